"""The external services (validation, payments, email) as one HTTP server on 127.0.0.1.

Each service answers under its own path prefix with the same latency and failure models as the simulated run
(``world/external_models.py``'s healthy behaviours plus the scenario's degradations), read against the
scaled timeline: a degradation the scenario starts at minute 20 starts ``20 / scale`` minutes
into the live run.  A hanging request is held for at most :data:`HANG_S` seconds, long past every
client timeout, so no thread is held forever.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
from pathlib import Path
from typing import Any

from live import rundir
from live.process import serve_until_signalled
from live.schedule import Timeline
from obsim.scenario import load_file
from world.external_models import RESPONSES, ServiceModel, service_models

HANG_S = 60.0
SERVICES = ("validation-service", "payment-gateway", "email-provider")


class FakeServices:
    """WSGI app: ``/<service>/...`` answers as that service behaves at the current scenario time."""

    def __init__(self, models: dict[str, ServiceModel], run_dir: Path, seed: int) -> None:
        self.models = models
        self.run_dir = run_dir
        self._timeline: Timeline | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0

    def timeline(self) -> Timeline | None:
        """The application's timeline, once it has published it; healthy behaviour until then."""
        if self._timeline is None:
            ready = rundir.read_ready(self.run_dir)
            if ready is not None:
                self._timeline = rundir.timeline_of(ready)
        return self._timeline

    def _draw(self) -> tuple[float, float, float, int]:
        with self._lock:
            self.requests += 1
            return self._rng.gauss(0.0, 1.0), self._rng.random(), self._rng.random(), self.requests

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        service = environ.get("PATH_INFO", "/").strip("/").split("/", 1)[0]
        model = self.models.get(service)
        if model is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "not found"}']
        timeline = self.timeline()
        behaviour = model.behaviour_at(timeline.to_scenario(time.time()) if timeline else -math.inf)
        gauss, roll, verdict, count = self._draw()
        sigma = max(math.log(behaviour.latency_p99_s / behaviour.latency_median_s) / 2.326, 1e-6)
        if roll < behaviour.hang_rate:
            time.sleep(HANG_S)
            return _answer(start_response, "504 Gateway Timeout", {"error": "upstream timeout"})
        time.sleep(min(behaviour.latency_median_s * math.exp(gauss * sigma), HANG_S))
        if roll < behaviour.hang_rate + behaviour.error_rate:
            return _answer(start_response, "503 Service Unavailable", {"error": "service unavailable"})
        body = RESPONSES.get(service, lambda r, n: {})(verdict < behaviour.reject_rate, count)
        return _answer(start_response, "200 OK", body)


def _answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live.fake_services")
    parser.add_argument("--scenario-file", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, help="stop at this time (epoch seconds)")
    args = parser.parse_args(argv)
    scenario = load_file(args.scenario_file)
    models = service_models(scenario, scenario.window.start.timestamp())
    app = FakeServices(models, args.run_dir, args.seed)
    serve_until_signalled(app, args.port, threads=48, name="external services", deadline=args.deadline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
