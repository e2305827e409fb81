"""The clients: real HTTP requests to the live service, ``python -m live.load_driver ...``.

Arrivals are Poisson at the scenario's rate for the current *scenario* time (the diurnal curve is
read on the scaled timeline), times ``--load-scale``; each request is built by the simulator's own
builders (same endpoint mix, payloads and tenants' API keys; an endpoint with a ``from_minute``
opens at that minute of the compressed timeline).  Everything is bounded: the run's
deadline, a cap on requests, a cap on requests in flight (an arrival beyond it is counted and
dropped, as an overloaded client pool would), and the client's own timeout.  Only 127.0.0.1 is
ever a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from live import rundir
from live.process import HOST, stop_on_signals
from live.schedule import Timeline
from obsim.scenario import Scenario, load_file
from platform_api.seed import TenantSeed
from world import deployment, release
from world.load import LoadGenerator

DRAIN_S = 5.0  # at the deadline, requests still in flight get this long before they are abandoned
MAX_IN_FLIGHT = 256
MAX_REQUESTS = 200_000
RESULTS = "requests.jsonl"
SUMMARY = "load.json"


def client_timeout_s() -> float:
    """How long a client waits for an answer: live mode has no gateway, so the clients give up when
    it would, after the upstream timeout of the service's deployment (the checkout's)."""
    return deployment.read(release.installed_root()).upstream_timeout_s


def _tenants(ready: dict[str, Any]) -> list[TenantSeed]:
    return [
        TenantSeed(**{k: tuple(v) if isinstance(v, list) else v for k, v in t.items()})
        for t in ready["tenants"]
    ]


class LiveLoad:
    def __init__(
        self,
        scenario: Scenario,
        ready: dict[str, Any],
        timeline: Timeline,
        scale: float,
        deadline: float,
        out: Path,
        seed: int,
    ) -> None:
        self.base_url = f"http://{HOST}:{int(ready['port'])}"
        self.timeline = timeline
        self.scale = scale
        self.deadline = deadline
        self.out = out
        self.rng = random.Random(seed)
        # The simulator's generator builds the requests, and opens each endpoint at its minute of
        # the compressed timeline; its clock-driven arrival loop is not used.
        self.requests = LoadGenerator(
            None,  # type: ignore[arg-type]
            scenario.load,
            _tenants(ready),
            lambda request: None,
            self.rng,
            deadline,
            scenario_clock=lambda: timeline.to_scenario(time.time()),
            scenario_start=timeline.scenario_start,
        )
        self.status: Counter[str] = Counter()
        self.sent = 0
        self.dropped = 0

    async def run(self) -> dict[str, Any]:
        in_flight: set[asyncio.Task[None]] = set()
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
        with (self.out / RESULTS).open("w") as results:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=client_timeout_s(), limits=limits
            ) as client:
                try:
                    while self.sent < MAX_REQUESTS:
                        rate = self.requests.rate_at(self.timeline.to_scenario(time.time())) * self.scale
                        await asyncio.sleep(self.rng.expovariate(rate))
                        if time.time() >= self.deadline:
                            break
                        if len(in_flight) >= MAX_IN_FLIGHT:
                            self.dropped += 1
                            continue
                        self.sent += 1
                        task = asyncio.create_task(self._send(client, results))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                finally:
                    if in_flight:
                        await asyncio.wait(in_flight, timeout=DRAIN_S)
                    for task in in_flight:
                        task.cancel()
        return {"sent": self.sent, "dropped": self.dropped, "status": dict(self.status)}

    async def _send(self, client: httpx.AsyncClient, results: Any) -> None:
        request = self.requests.next_request()
        started = time.time()
        headers = {
            "X-API-Key": request.api_key,
            "X-Forwarded-For": request.client_addr,
            "User-Agent": request.user_agent,
        }
        path = f"{request.path}?{request.query}" if request.query else request.path
        try:
            response = await client.request(request.method, path, json=request.body, headers=headers)
            outcome = str(response.status_code)
            error = (
                response.json().get("error") if response.status_code >= 400 and _is_json(response) else None
            )
        except httpx.TimeoutException:
            outcome, error = "timeout", "client timeout"
        except httpx.TransportError as exc:
            outcome, error = "connection-error", type(exc).__name__
        self.status[outcome] += 1
        results.write(
            json.dumps(
                {
                    "start": round(started, 3),
                    "duration": round(time.time() - started, 3),
                    "method": request.method,
                    "path": request.path,
                    "outcome": outcome,
                    "error": error,
                }
            )
            + "\n"
        )


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


async def _wait_ready(run_dir: Path, deadline: float) -> dict[str, Any] | None:
    while time.time() < deadline:
        ready = rundir.read_ready(run_dir)
        if ready is not None:
            return ready
        await asyncio.sleep(0.2)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live.load_driver")
    parser.add_argument("--scenario-file", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument(
        "--deadline", type=float, required=True, help="stop sending at this time (epoch seconds)"
    )
    parser.add_argument("--load-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stop_on_signals()
    scenario = load_file(args.scenario_file)
    summary: dict[str, Any] = {}
    try:
        ready = asyncio.run(_wait_ready(args.run_dir, args.deadline))
        if ready is None:
            print("error: the service never became ready", file=sys.stderr)
            return 1
        load = LiveLoad(
            scenario,
            ready,
            rundir.timeline_of(ready),
            args.load_scale,
            args.deadline,
            args.run_dir,
            args.seed,
        )
        try:
            summary = asyncio.run(load.run())
        except KeyboardInterrupt:
            summary = {
                "sent": load.sent,
                "dropped": load.dropped,
                "status": dict(load.status),
                "interrupted": True,
            }
    except KeyboardInterrupt:
        return 0
    (args.run_dir / SUMMARY).write_text(json.dumps(summary, sort_keys=True))
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
