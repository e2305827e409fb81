"""The application process: ``python -m obsim.live.server ...`` (started by ``obsim live``).

One process, as the simulated web-server model has it: waitress's worker threads serve the Flask
app, which checks connections out of its own SQLAlchemy QueuePool against the real database, and
APScheduler's BackgroundScheduler runs the app's declared jobs in the same process.  The only
changes to production wiring are the ones live mode exists for: the app's external-service URLs
point at the local fakes, every job's trigger is read on the scenario's scaled timeline, and
telemetry also goes to the dataset recorder (and OTLP).  With ``--app-root`` the application is
imported from that directory (a patched copy).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from obsim.live import rundir
from obsim.live.process import serve_until_signalled
from obsim.live.schedule import Timeline, scale_jobs
from obsim.scenario import Scenario, load_file

WEB_THREADS = 64  # as simulator/run.py's web server
WEB_BACKLOG = 2048
WEB_CONNECTION_LIMIT = 512
SCRAPE_INTERVAL_S = 15.0
SEED = 1


class NotEmptyError(Exception):
    """The database already holds an application's data."""


def _engine_options(url: str) -> dict[str, Any]:
    """SQLite takes none of PostgreSQL's connect arguments and must allow the pool's threads."""
    if url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {}


def _use_wal(engine: Any) -> None:
    """SQLite's write-ahead log lets readers and one writer work at once, as a server would."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _job_rows(scheduler: Any) -> list[tuple[Any, ...]]:
    """Rows for the dataset's ``jobs`` table, as ``simulator.jobs.JobRunner.job_rows`` writes them."""
    from simulator.jobs import declared_jobs

    specs, workers = declared_jobs(scheduler)
    return [
        (
            spec.job.id,
            spec.job.name,
            spec.job.func_ref,
            str(spec.job.trigger),
            getattr(spec.job.trigger, "jitter", None),
            spec.max_instances,
            int(spec.coalesce),
            spec.misfire_grace_time,
            spec.executor,
            workers.get(spec.executor, 0),
        )
        for spec in specs
    ]


class JobRunListener:
    """Turns APScheduler's job events into rows of the dataset's ``job_runs`` table."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.runs = 0
        self._submitted: dict[tuple[str, float], float] = {}

    def __call__(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED

        now = time.time()
        if event.code == EVENT_JOB_SUBMITTED:
            for scheduled in event.scheduled_run_times:
                self._submitted[(event.job_id, scheduled.timestamp())] = now
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            for scheduled in event.scheduled_run_times:
                self._record(event.job_id, scheduled.timestamp(), None, None, "skipped", None)
            return
        scheduled = event.scheduled_run_time.timestamp()
        if event.code == EVENT_JOB_MISSED:
            self._record(event.job_id, scheduled, None, None, "missed", None)
            return
        started = self._submitted.pop((event.job_id, scheduled), None)
        error = None if event.exception is None else f"{type(event.exception).__name__}: {event.exception}"
        self._record(event.job_id, scheduled, started, now, "error" if error else "success", error)

    def _record(
        self,
        job_id: str,
        scheduled: float,
        started: float | None,
        finished: float | None,
        outcome: str,
        error: str | None,
    ) -> None:
        self.runs += 1
        self.recorder.add_job_run(
            (f"{job_id}-{self.runs:06d}", job_id, scheduled, started, finished, outcome, None, error)
        )


def run(args: argparse.Namespace, scenario: Scenario) -> int:
    # Imported here: main() first puts the (possibly patched) application on sys.path.
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
    )
    from sqlalchemy import func, select

    from app_under_test import seed as app_seed
    from app_under_test.api.app import create_app
    from app_under_test.lib import config, metrics, tracing
    from app_under_test.lib.database import migrations
    from app_under_test.lib.database.client import db
    from app_under_test.lib.logging import configure_logging
    from app_under_test.models import Tenant
    from app_under_test.services.job_scheduler import create_scheduler
    from obsim.live import postgres
    from obsim.live.recorder import LiveRecorder
    from obsim.live.telemetry import FanoutExporter, FanoutHandler, stdout_sink

    services = f"http://127.0.0.1:{args.services_port}"
    settings = config.load_settings(
        environ={},
        database_url=args.db,
        db_pool_size=args.pool_size,
        host_name=socket.gethostname(),
        service_version=scenario.service_version,
        validation_service_url=f"{services}/validation-service",
        payment_gateway_url=f"{services}/payment-gateway",
        email_provider_url=f"{services}/email-provider",
    )
    activity = postgres.PgActivity(args.db) if postgres.is_postgres(args.db) else None
    app_parent = str(Path(sys.modules["app_under_test"].__file__).resolve().parent.parent) + "/"  # type: ignore[arg-type]
    recorder = LiveRecorder(
        args.run_dir / "dataset",
        app_parent,
        [metrics.REGISTRY],
        activity.sessions if activity is not None else None,
        SCRAPE_INTERVAL_S,
    )
    exporters: list[Any] = [recorder]
    log_sinks: list[Any] = [stdout_sink, recorder.add_log]
    bridge = None
    if args.otlp_endpoint:
        from obsim.live.otlp import OtlpBridge

        bridge = OtlpBridge(args.otlp_endpoint, settings.service_name, settings.host_name)
        exporters.append(bridge)
        log_sinks.append(bridge.emit_log)
    tracing.configure(
        settings.service_name, exporter=FanoutExporter(exporters), service_version=settings.service_version
    )
    configure_logging(settings, handler=FanoutHandler(log_sinks))
    log = logging.getLogger("platform.startup")

    engine = db.configure(settings, **_engine_options(args.db))
    if not postgres.is_postgres(args.db):
        _use_wal(engine)
    app = create_app(settings)
    migrations.migrate(engine)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(Tenant)):
            raise NotEmptyError(
                f"{engine.url.render_as_string()} already holds tenants: live mode seeds its own data "
                "and needs an empty database"
            )
    data = scenario.data
    summary = app_seed.seed_database(
        engine,
        seed=SEED,
        tenants=data.tenants,
        users_per_tenant=data.users_per_tenant,
        workflows_per_tenant=data.workflows_per_tenant,
        records_per_tenant=data.records_per_tenant,
        now=datetime.now(UTC) - timedelta(minutes=1),
    )
    engine.pool.dispose()  # seeding's connections; the service starts with an empty pool
    if activity is not None:
        metrics.register_collector(postgres.PgActivityCollector(activity))

    scheduler = create_scheduler(settings)
    timeline = Timeline(scenario.window.start.timestamp(), time.time(), args.time_scale)
    scale_jobs(scheduler, timeline)
    listener = JobRunListener(recorder)
    scheduler.add_listener(
        listener,
        EVENT_JOB_SUBMITTED
        | EVENT_JOB_EXECUTED
        | EVENT_JOB_ERROR
        | EVENT_JOB_MISSED
        | EVENT_JOB_MAX_INSTANCES,
    )
    recorder.add_jobs(_job_rows(scheduler))
    recorder.start(
        {"scenario": scenario.id, "seed": SEED, "live": True, "time_scale": args.time_scale},
        planned_end=timeline.real_start + args.run_seconds,
    )
    scheduler.start()
    log.info(
        "service started",
        extra={
            "db.pool.size": settings.db_pool_size,
            "web.threads": WEB_THREADS,
            "time_scale": args.time_scale,
        },
    )
    rundir.write_ready(args.run_dir, timeline, list(summary.tenants), args.port)
    try:
        serve_until_signalled(
            app,
            args.port,
            threads=WEB_THREADS,
            name="platform-api",
            deadline=args.deadline,
            backlog=WEB_BACKLOG,
            connection_limit=WEB_CONNECTION_LIMIT,
        )
    finally:
        log.info("service stopping")
        scheduler.shutdown(wait=False)
        published = recorder.stop()
        if bridge is not None:
            bridge.shutdown()
        engine.dispose()
        if activity is not None:
            activity.close()
        print(f"dataset {'published' if published else 'NOT published'}: {recorder.target}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="obsim.live.server")
    parser.add_argument("--scenario-file", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--services-port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--pool-size", type=int, required=True)
    parser.add_argument("--time-scale", type=float, required=True)
    parser.add_argument("--deadline", type=float, help="stop at this time (epoch seconds)")
    parser.add_argument(
        "--run-seconds", type=float, required=True, help="how long the run lasts once the service is ready"
    )
    parser.add_argument("--otlp-endpoint")
    parser.add_argument("--app-root", type=Path, help="directory holding the app_under_test package to run")
    args = parser.parse_args(argv)
    if args.app_root is not None:
        sys.path.insert(0, str(args.app_root.resolve()))
        import app_under_test

        if not Path(app_under_test.__file__).resolve().is_relative_to(args.app_root.resolve()):
            parser.error(f"app_under_test was imported from {app_under_test.__file__}, not {args.app_root}")
    try:
        return run(args, load_file(args.scenario_file))
    except NotEmptyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
