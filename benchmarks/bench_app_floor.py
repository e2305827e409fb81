"""The application's own cost per request, with nothing simulated: the ceiling any generator has.

Usage: python benchmarks/bench_app_floor.py [--requests N] [--repeat N] [SCENARIO]

Builds the real application exactly as production does (``create_app`` on a real SQLite file
engine with its own connection pool), seeds the scenario's data, and calls the WSGI app directly,
one request after another on one thread, with the scenario's request mix from the simulator's load
generator.  There is no virtual clock, no gateway, no modelled database, no telemetry storage:
spans go to the tracer's discarding exporter and log records to a handler that formats and drops
them.  External services answer at once.

Whatever rate this prints per CPU second is the most a single-process generator running the same
code can reach, however cheap its simulator becomes; ``bench_generate.py`` measures the real thing.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_generate import machine  # noqa: E402

from obsim import scenario as scenarios  # noqa: E402
from simulator.web import wsgi_environ  # noqa: E402
from world import deployment, release  # noqa: E402

PORT = deployment.read(release.installed_root()).port


class _InstantClock:
    """What :class:`simulator.external_services.SimulatedServices` needs of a kernel: no waiting."""

    now = datetime(2026, 3, 10, 10, tzinfo=UTC).timestamp()

    def sleep(self, seconds: float) -> None:
        return None


class _FormatAndDrop(logging.Handler):
    """Formats each record (the JSON formatter's cost is the application's) and keeps nothing."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def _call(app: Any, request: Any) -> int:
    """One request through the WSGI app, its body read and closed; returns the status code."""
    statuses: list[str] = []
    chunks = app.wsgi_app(
        wsgi_environ(request, "app-1", PORT, None),
        lambda status, headers, exc_info=None: statuses.append(status),
    )
    b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(statuses[-1].split(" ", 1)[0])


def run(scenario_id: str, requests: int, repeat: int) -> dict[str, Any]:
    from platform_api import seed as app_seed
    from platform_api.api.app import create_app
    from platform_api.lib import config, plumbing, tracing
    from platform_api.lib.database import migrations
    from platform_api.lib.database.client import db
    from platform_api.lib.logging import configure_logging
    from simulator import external_services
    from simulator.run import SERVICE_HOSTS
    from world.external_models import service_models
    from world.load import LoadGenerator

    scenario = scenarios.load(scenario_id)
    settings = config.load_settings(
        environ=dict(scenario.app.settings),
        # One in-memory database every pooled connection shares, as the generator's is.
        database_url="sqlite:///file:platform?mode=memory&cache=shared&uri=true",
        host_name="app-1",
        service_name="platform-api",
    )
    clock = _InstantClock()
    plumbing.configure(
        http_transport=external_services.SimulatedServices(
            clock,  # type: ignore[arg-type]
            service_models(scenario, clock.now),
            SERVICE_HOSTS,
            random.Random(1),
        )
    )
    tracing.configure(settings.service_name)
    configure_logging(settings, handler=_FormatAndDrop())
    logging._srcfile = None  # type: ignore[attr-defined]  # as the generator sets it
    app = create_app(settings, connect_args={"check_same_thread": False})
    migrations.migrate(db.engine)
    data = scenario.data
    summary = app_seed.seed_database(
        db.engine,
        seed=1,
        tenants=data.tenants,
        users_per_tenant=data.users_per_tenant,
        workflows_per_tenant=data.workflows_per_tenant,
        records_per_tenant=data.records_per_tenant,
        now=datetime.now(UTC) - timedelta(minutes=1),
    )
    load = LoadGenerator(
        None,  # type: ignore[arg-type]
        scenario.load,
        list(summary.tenants),
        lambda request: None,
        random.Random(2),
        float("inf"),
    )
    rates: list[float] = []
    statuses: dict[int, int] = {}
    for _ in range(repeat):
        batch = [load.next_request() for _ in range(requests)]
        started = time.process_time()
        for request in batch:
            code = _call(app, request)
            statuses[code] = statuses.get(code, 0) + 1
        rates.append(requests / (time.process_time() - started))
    return {"median": statistics.median(rates), "runs": rates, "statuses": dict(sorted(statuses.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="baseline")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    args = parser.parse_args()
    print(machine())
    result = run(args.scenario, args.requests, args.repeat)
    runs = " / ".join(f"{rate:.0f}" for rate in result["runs"])
    print(f"{args.scenario}: {result['median']:.0f} requests per CPU second (median; rounds {runs})")
    print(f"statuses: {result['statuses']}")


if __name__ == "__main__":
    main()
