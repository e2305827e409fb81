"""The application process: ``python -m live.server ...`` (started by ``obsim live``).

One process, as the simulated web-server model has it: waitress's worker threads serve the Flask
app, which checks connections out of its own SQLAlchemy QueuePool against the real database, and
APScheduler's BackgroundScheduler runs the app's declared jobs in the same process.  waitress runs
as the service's ``gunicorn.conf.py`` runs its gthread worker (read by :mod:`world.deployment`):
as many threads, the same listen backlog and connection limit, the same graceful timeout on a
deploy; it listens on ``--port`` rather than the conf's ``bind``.  The only
changes to production wiring are the ones live mode exists for: the app's external-service URLs
point at the local fakes (and its Redis at ``--redis-url``), every job's trigger is read on the
scenario's scaled timeline, and telemetry also goes to the dataset recorder (and OTLP).  The
service is configured as the simulator configures it: the scenario's ``[app.settings]`` as its
environment, live mode's arguments on top.  With ``--app-root`` the application is imported from
that directory (a patched copy).

A scenario with a ``[deploy]`` starts on ``--previous-app-root`` and, at the deploy's moment on the
scaled timeline, redeploys in this process as :mod:`world.release` does: the running release's
modules are forgotten and the new code imported afresh, booted and wired like the first (its own
pool, metric registry and scheduler), and the WSGI server hands new requests to it while the old
release finishes the ones it had accepted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from live import rundir
from live.process import serve_until_signalled
from live.schedule import Timeline, scale_jobs
from obsim.scenario import Deploy, Scenario, load_file
from world import deployment, release
from world.deployment import Deployment
from world.release import ServiceCode

SCRAPE_INTERVAL_S = 15.0
SEED = 1
DRAIN_POLL_S = 0.1


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
    """Rows for the dataset's ``jobs`` table, as ``simulator.job_runner.JobRunner.job_rows`` writes them."""
    from world.scheduled_jobs import declared_jobs

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


class ServedApp:
    """The WSGI application waitress serves: the running release's Flask app.

    A deploy swaps in the new release's app; requests already accepted finish on the old one, which
    counts them so that the deploy knows when the old release has drained, as gunicorn's old worker
    exits once it has answered what it had accepted.
    """

    def __init__(self, app: Any) -> None:
        self.current = app
        self._in_flight: Counter[int] = Counter()  # by id() of the release's app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        app = self.current
        with self._lock:
            self._in_flight[id(app)] += 1
        try:
            return app(environ, start_response)
        finally:
            with self._lock:
                self._in_flight[id(app)] -= 1

    def in_flight(self, app: Any) -> int:
        with self._lock:
            return self._in_flight[id(app)]


def service_settings(args: argparse.Namespace, scenario: Scenario, code: ServiceCode, version: str) -> Any:
    """As the simulator configures the service (``simulator.run``), live mode's arguments winning."""
    services = f"http://127.0.0.1:{args.services_port}"
    overrides: dict[str, Any] = {
        "database_url": args.db,
        "db_pool_size": args.pool_size,
        "host_name": socket.gethostname(),
        "validation_service_url": f"{services}/validation-service",
        "payment_gateway_url": f"{services}/payment-gateway",
        "email_provider_url": f"{services}/email-provider",
    }
    if args.redis_url is not None:
        overrides["redis_url"] = args.redis_url
    return code.config.load_settings(
        environ={**scenario.app.settings, "SERVICE_VERSION": version}, **overrides
    )


@dataclass
class RunningRelease:
    """One release running in this process: its modules, settings, app and scheduler."""

    code: ServiceCode
    settings: Any
    app: Any
    scheduler: Any = None


class LiveService:
    """Wires each release of the service's code the same way, starts the first, and deploys the next.

    Every release gets the scenario's ``[app.settings]`` with live mode's own arguments on top (the
    database, the pool size, the fakes' URLs, the real Redis), the shared span processors and log
    handler, a pool of its own against the database, the live collectors in its metric registry
    and a scheduler whose jobs run on the scaled timeline.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        scenario: Scenario,
        conf: Deployment,
        recorder: Any,
        processors: list[Any],
        handler: Any,
    ) -> None:
        self.args = args
        self.scenario = scenario
        self.conf = conf
        self.recorder = recorder
        self.processors = processors
        self.handler = handler
        self.listener = JobRunListener(recorder)
        self.collectors: list[Any] = []  # the live collectors (PostgreSQL's, Redis's) every registry gets
        self.timeline: Timeline | None = None  # set once the data is seeded: scenario time starts then
        self.running: RunningRelease | None = None
        self.served: ServedApp | None = None

    def boot(self, code: ServiceCode, settings: Any) -> RunningRelease:
        """A new process on ``code``, as ``wsgi.py`` starts one: telemetry, its engine, the app, the
        (idempotent) migrations; and the live collectors in its metric registry."""
        from live import postgres_instance

        code.tracing.configure(
            settings.service_name,
            self.processors,
            service_version=settings.service_version,
            host_name=settings.host_name,
        )
        code.logging.configure_logging(settings, handler=self.handler)
        engine = code.database.db.configure(settings, **_engine_options(self.args.db))
        if not postgres_instance.is_postgres(self.args.db):
            _use_wal(engine)
        app = code.app.create_app(settings)
        code.migrations.migrate(engine)
        for collector in self.collectors:
            code.metrics.register_collector(collector)
        return RunningRelease(code, settings, app)

    def start(self, running: RunningRelease) -> None:
        """Let ``running`` serve: its scheduler started on the scaled timeline."""
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
            EVENT_JOB_SUBMITTED,
        )

        assert self.timeline is not None
        scheduler = running.code.scheduler.create_scheduler(running.settings)
        scale_jobs(scheduler, self.timeline)
        scheduler.add_listener(
            self.listener,
            EVENT_JOB_SUBMITTED
            | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR
            | EVENT_JOB_MISSED
            | EVENT_JOB_MAX_INSTANCES,
        )
        if self.running is None:  # the jobs table lists the declarations once; a deploy keeps them
            self.recorder.add_jobs(_job_rows(scheduler))
        running.scheduler = scheduler
        scheduler.start()
        self.running = running
        logging.getLogger("platform.startup").info(
            "service started",
            extra={
                "db.pool.size": running.settings.db_pool_size,
                "web.threads": self.conf.threads,
                "time_scale": self.args.time_scale,
            },
        )

    def deploy(self, deploy: Deploy, root: Path) -> None:
        """The pipeline ships the release at ``root``: a new process boots on it and takes the new
        requests, a new scheduler replaces the old one, and the old release's pool is let go once its
        requests have finished (at most gunicorn's ``graceful_timeout``)."""
        assert self.running is not None and self.served is not None
        old = self.running
        self.recorder.add_log(time.time(), release.deploy_started(deploy))
        code = release.load(root)
        new = self.boot(code, service_settings(self.args, self.scenario, code, deploy.to_version))
        old.scheduler.shutdown(wait=False)
        self.start(new)
        self.recorder.replace_registry(old.code.metrics.REGISTRY, code.metrics.REGISTRY)
        self.served.current = new.app
        drained = time.monotonic() + self.conf.graceful_timeout_s
        while self.served.in_flight(old.app) and time.monotonic() < drained:
            time.sleep(DRAIN_POLL_S)
        release.dispose_silently(old.code.database.db)
        self.recorder.add_log(time.time(), release.deploy_finished(deploy, new.settings.host_name))


def run(args: argparse.Namespace, scenario: Scenario) -> int:
    from live import postgres_instance, redis_instance
    from live.recorder import LiveRecorder
    from live.telemetry_fanout import FanoutHandler, stdout_sink

    deployed_root = args.app_root.resolve() if args.app_root is not None else release.installed_root()
    first_root = args.previous_app_root.resolve() if args.previous_app_root is not None else deployed_root
    code = release.load(first_root)
    first_version = scenario.deploy.from_version if scenario.deploy is not None else scenario.service_version
    activity = postgres_instance.PgActivity(args.db) if postgres_instance.is_postgres(args.db) else None
    monitor = redis_instance.RedisMonitor(args.redis_url) if args.redis_url is not None else None
    recorder = LiveRecorder(
        args.run_dir / "dataset",
        list(dict.fromkeys([code.parent, str(deployed_root) + "/"])),
        [code.metrics.REGISTRY],
        activity.sessions if activity is not None else None,
        SCRAPE_INTERVAL_S,
        [monitor.ship_slowlog] if monitor is not None else [],
    )
    processors: list[Any] = [recorder]
    log_sinks: list[Any] = [stdout_sink, recorder.add_log]
    settings = service_settings(args, scenario, code, first_version)
    bridge = None
    if args.otlp_endpoint:
        from live.otlp import OtlpBridge

        bridge = OtlpBridge(args.otlp_endpoint, settings.service_name, settings.host_name)
        processors.append(bridge.span_processor)
        log_sinks.append(bridge.emit_log)
    conf = deployment.read(code.root)
    service = LiveService(args, scenario, conf, recorder, processors, FanoutHandler(log_sinks))
    if activity is not None:
        service.collectors.append(postgres_instance.PgActivityCollector(activity))
    if monitor is not None:
        service.collectors.append(redis_instance.RedisInfoCollector(monitor))
    first = service.boot(code, settings)
    summary = _seed(code, scenario)
    code.database.db.engine.pool.dispose()  # seeding's connections; the service starts with an empty pool

    timeline = Timeline(scenario.window.start.timestamp(), time.time(), args.time_scale)
    service.timeline = timeline
    recorder.start(
        {"scenario": scenario.id, "seed": SEED, "live": True, "time_scale": args.time_scale},
        planned_end=timeline.real_start + args.run_seconds,
    )
    service.start(first)
    service.served = ServedApp(first.app)
    deploy_timer = None
    if scenario.deploy is not None:
        at = timeline.to_real(timeline.scenario_start + scenario.deploy.at_minute * 60)
        deploy_timer = threading.Timer(
            max(0.0, at - time.time()), _deploy_or_log, (service, scenario.deploy, deployed_root)
        )
        deploy_timer.daemon = True
        deploy_timer.start()
    rundir.write_ready(args.run_dir, timeline, list(summary.tenants), args.port)
    try:
        serve_until_signalled(
            service.served,
            args.port,
            threads=conf.threads,
            name="platform-api",
            deadline=args.deadline,
            backlog=conf.backlog,
            connection_limit=conf.worker_connections,
        )
    finally:
        logging.getLogger("platform.startup").info("service stopping")
        if deploy_timer is not None:
            deploy_timer.cancel()
        running = service.running
        assert running is not None
        running.scheduler.shutdown(wait=False)
        published = recorder.stop()
        if bridge is not None:
            bridge.shutdown()
        running.code.database.db.engine.dispose()
        if activity is not None:
            activity.close()
        if monitor is not None:
            monitor.close()
        print(f"dataset {'published' if published else 'NOT published'}: {recorder.target}", file=sys.stderr)
    return 0


def _seed(code: ServiceCode, scenario: Scenario) -> Any:
    """Seed the scenario's data into the empty database (or raise NotEmptyError)."""
    from sqlalchemy import func, select

    tenant = importlib.import_module(f"{release.PACKAGE}.models").Tenant
    engine = code.database.db.engine
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(tenant)):
            raise NotEmptyError(
                f"{engine.url.render_as_string()} already holds tenants: live mode seeds its own data "
                "and needs an empty database"
            )
    data = scenario.data
    return code.seed.seed_database(
        engine,
        seed=SEED,
        tenants=data.tenants,
        users_per_tenant=data.users_per_tenant,
        workflows_per_tenant=data.workflows_per_tenant,
        records_per_tenant=data.records_per_tenant,
        now=datetime.now(UTC) - timedelta(minutes=1),
    )


def _deploy_or_log(service: LiveService, deploy: Deploy, root: Path) -> None:
    """The deploy, on its timer's thread: a failed deploy leaves the old release serving, as it would."""
    try:
        service.deploy(deploy, root)
    except Exception:
        logging.getLogger("platform.startup").exception("deploy failed: the previous release keeps serving")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="live.server")
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
    parser.add_argument(
        "--app-root", type=Path, help="the service's repository to run (a patched copy of app_under_test/)"
    )
    parser.add_argument(
        "--previous-app-root",
        type=Path,
        help="the release to start on, when the scenario deploys --app-root's code during the run",
    )
    parser.add_argument("--redis-url", help="the Redis the service uses, when its settings use one")
    args = parser.parse_args(argv)
    try:
        return run(args, load_file(args.scenario_file))
    except NotEmptyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
