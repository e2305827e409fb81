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
service is started by the same :class:`world.service_host.ServiceHost` as in the simulator
(settings, boot, migrations, seed, scheduler, deploy), in the :class:`LiveWorld` this module
provides: the scenario's ``[app.settings]`` as its environment, live mode's arguments on top.
With ``--app-root`` the application is imported from that directory (a patched copy).

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
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from live import rundir
from live.process import serve_until_signalled
from live.schedule import Timeline, scale_jobs
from obsim.scenario import Deploy, Scenario, load_file
from world import deployment, release
from world.release import ServiceCode
from world.scheduled_jobs import Schedule, declared_jobs
from world.service_host import RunningRelease, ServiceHost

SCRAPE_INTERVAL_S = 15.0
SEED = 1
DRAIN_POLL_S = 0.1


class NotEmptyError(Exception):
    """The database already holds an application's data."""


def _use_wal(engine: Any) -> None:
    """SQLite's write-ahead log lets readers and one writer work at once, as a server would."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _job_rows(schedule: Schedule) -> list[tuple[Any, ...]]:
    """Rows for the dataset's ``jobs`` table, as ``simulator.job_runner.JobRunner.job_rows`` writes them."""
    specs, workers = declared_jobs(schedule)
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


class LiveWorld:
    """The real infrastructure around the service: this process's threads and wall clock, the
    database at ``--db``, the fakes at ``--services-port``, the Redis at ``--redis-url``, and
    telemetry to the dataset recorder (and OTLP).  Live mode's answer to
    :class:`world.service_host.World`.

    Every release gets the scenario's ``[app.settings]`` with live mode's own arguments on top
    (the database, the pool size, the fakes' URLs, the real Redis), the shared trace exporter and
    log handler, a pool of its own against the database, the live collectors in its metric
    registry and a scheduler whose jobs run on the scaled timeline.  (Spans need no fan-out: the
    application's tracer takes several span processors.)
    """

    trace_ids = None  # the service's own random ids

    def __init__(
        self,
        args: argparse.Namespace,
        recorder: Any,
        span_processors: list[Any],
        log_handler: logging.Handler,
    ) -> None:
        self.args = args
        self.recorder = recorder
        self.span_processors = span_processors
        self.log_handler = log_handler
        self.listener = JobRunListener(recorder)
        self.collectors: list[Any] = []  # the live collectors (PostgreSQL's, Redis's) every registry gets
        self.timeline: Timeline | None = None  # set once the data is seeded: scenario time starts then
        self.served: ServedApp | None = None
        self.scheduler: Any = None
        self.worker_ready: Callable[[int], None] = lambda pid: None  # the host's, once it exists
        self._registry: Any = None

    def settings_overrides(self) -> dict[str, Any]:
        services = f"http://127.0.0.1:{self.args.services_port}"
        overrides: dict[str, Any] = {
            "database_url": self.args.db,
            "db_pool_size": self.args.pool_size,
            "host_name": socket.gethostname(),
            "validation_service_url": f"{services}/validation-service",
            "payment_gateway_url": f"{services}/payment-gateway",
            "email_provider_url": f"{services}/email-provider",
        }
        if self.args.redis_url is not None:
            overrides["redis_url"] = self.args.redis_url
        return overrides

    def attach(self, code: ServiceCode, settings: Any) -> None:
        return None  # real time, threads and network: the service's own defaults

    def engine_options(self, code: ServiceCode, settings: Any) -> dict[str, Any]:
        """SQLite takes none of PostgreSQL's connect arguments and must allow the pool's threads."""
        if self.args.db.startswith("sqlite"):
            return {"connect_args": {"check_same_thread": False, "timeout": 30}}
        return {}

    def engine_created(self, engine: Any) -> None:
        from live import postgres_instance

        if not postgres_instance.is_postgres(self.args.db):
            _use_wal(engine)

    def release_loaded(self, code: ServiceCode) -> None:
        for collector in self.collectors:
            code.metrics.register_collector(collector)
        if self._registry is not None:
            self.recorder.replace_registry(self._registry, code.metrics.REGISTRY)
        self._registry = code.metrics.REGISTRY

    def run_jobs(self, schedule: Schedule, replacing: RunningRelease | None) -> None:
        """Start ``schedule``'s scheduler on the scaled timeline, in place of the running one."""
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
            EVENT_JOB_SUBMITTED,
        )

        assert self.timeline is not None
        scheduler = schedule.scheduler
        scale_jobs(scheduler, self.timeline)
        scheduler.add_listener(
            self.listener,
            EVENT_JOB_SUBMITTED
            | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR
            | EVENT_JOB_MISSED
            | EVENT_JOB_MAX_INSTANCES,
        )
        if self.scheduler is None:  # the jobs table lists the declarations once; a deploy keeps them
            self.recorder.add_jobs(_job_rows(schedule))
        else:
            self.scheduler.shutdown(wait=False)
        self.scheduler = scheduler
        scheduler.start()

    def hand_over(self, take_over: Callable[[], Any], retire: Callable[[], None], grace_s: float) -> None:
        """The new release's app takes the new requests at once; the old one finishes those it
        accepted, for at most ``grace_s``, as gunicorn's old worker does."""
        assert self.served is not None
        old = self.served.current
        self.served.current = take_over()
        self.worker_ready(os.getpid())
        drained = time.monotonic() + grace_s
        while self.served.in_flight(old) and time.monotonic() < drained:
            time.sleep(DRAIN_POLL_S)
        retire()

    def log(self, entry: dict[str, Any]) -> None:
        self.recorder.add_log(time.time(), entry)


def run(args: argparse.Namespace, scenario: Scenario) -> int:
    live = LiveRun(args, scenario)
    live.start()
    try:
        serve_until_signalled(
            live.world.served,
            args.port,
            threads=live.host.conf.threads,
            name="platform-api",
            deadline=args.deadline,
            backlog=live.host.conf.backlog,
            connection_limit=live.host.conf.worker_connections,
        )
    finally:
        live.stop()
    return 0


class LiveRun:
    """One live run: the recorder and the world set up, the service started and its data seeded,
    served until signalled, then stopped with the dataset published."""

    def __init__(self, args: argparse.Namespace, scenario: Scenario) -> None:
        from live import postgres_instance, redis_instance
        from live.recorder import LiveRecorder
        from live.telemetry_fanout import FanoutHandler, stdout_sink

        self.args = args
        self.scenario = scenario
        deployed_root = args.app_root.resolve() if args.app_root is not None else release.installed_root()
        first_root = args.previous_app_root.resolve() if args.previous_app_root is not None else deployed_root
        self.code = release.load(first_root)
        db, redis_url = args.db, args.redis_url
        self.activity = postgres_instance.PgActivity(db) if postgres_instance.is_postgres(db) else None
        self.monitor = redis_instance.RedisMonitor(redis_url) if redis_url is not None else None
        self.recorder = LiveRecorder(
            args.run_dir / "dataset",
            list(dict.fromkeys([self.code.path_prefix, str(deployed_root) + "/"])),
            [self.code.metrics.REGISTRY],
            self.activity.sessions if self.activity is not None else None,
            SCRAPE_INTERVAL_S,
            [self.monitor.ship_slowlog] if self.monitor is not None else [],
        )
        processors: list[Any] = [self.recorder]
        log_sinks: list[Any] = [stdout_sink, self.recorder.add_log]
        self.bridge = None
        if args.otlp_endpoint:
            from live.otlp import OtlpBridge

            self.bridge = OtlpBridge(args.otlp_endpoint, deployment.SERVICE, socket.gethostname())
            processors.append(self.bridge.span_processor)
            log_sinks.append(self.bridge.emit_log)
        self.world = LiveWorld(args, self.recorder, processors, FanoutHandler(log_sinks))
        self.host = ServiceHost(scenario, self.world, deployment.read(self.code.root), deployed_root)
        self.world.worker_ready = self.host.worker_ready
        if self.activity is not None:
            self.world.collectors.append(postgres_instance.PgActivityCollector(self.activity))
        if self.monitor is not None:
            self.world.collectors.append(redis_instance.RedisInfoCollector(self.monitor))
        self.deploy_timer: threading.Timer | None = None

    def start(self) -> None:
        """Boot the first release, seed its data, start scenario time and the jobs, arm the deploy,
        and say the service is ready."""
        args, scenario, host = self.args, self.scenario, self.host
        deploy = scenario.deploy
        first = host.start(self.code, deploy.from_version if deploy is not None else scenario.service_version)
        summary = _seed(host, first)
        self.code.database.db.engine.pool.dispose()  # seeding's connections: the service starts with none
        timeline = self.world.timeline = Timeline(
            scenario.window.start.timestamp(), time.time(), args.time_scale
        )
        self.recorder.start(
            {"scenario": scenario.id, "seed": SEED, "live": True, "time_scale": args.time_scale},
            planned_end=timeline.real_start + args.run_seconds,
        )
        host.start_jobs()
        self.world.served = ServedApp(first.app)
        host.worker_ready(os.getpid())
        if deploy is not None:
            at = timeline.to_real(timeline.scenario_start + deploy.at_minute * 60)
            self.deploy_timer = threading.Timer(max(0.0, at - time.time()), _deploy_or_log, (host, deploy))
            self.deploy_timer.daemon = True
            self.deploy_timer.start()
        rundir.write_ready(args.run_dir, timeline, list(summary.tenants), args.port)

    def stop(self) -> None:
        """Stop the jobs, publish the dataset and close every connection."""
        logging.getLogger("gunicorn.error").info("Shutting down: Master")
        if self.deploy_timer is not None:
            self.deploy_timer.cancel()
        self.world.scheduler.shutdown(wait=False)
        published = self.recorder.stop()
        if self.bridge is not None:
            self.bridge.shutdown()
        assert self.host.running is not None
        self.host.running.code.database.db.engine.dispose()
        if self.activity is not None:
            self.activity.close()
        if self.monitor is not None:
            self.monitor.close()
        target = self.recorder.target
        print(f"dataset {'published' if published else 'NOT published'}: {target}", file=sys.stderr)


def _seed(host: ServiceHost, first: RunningRelease) -> Any:
    """Seed the scenario's data into the empty database (or raise NotEmptyError)."""
    from sqlalchemy import func, select

    tenant = importlib.import_module(f"{release.PACKAGE}.models").Tenant
    engine = first.code.database.db.engine
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(tenant)):
            raise NotEmptyError(
                f"{engine.url.render_as_string()} already holds tenants: live mode seeds its own data "
                "and needs an empty database"
            )
    return host.seed(SEED, datetime.now(UTC) - timedelta(minutes=1))


def _deploy_or_log(host: ServiceHost, deploy: Deploy) -> None:
    """The deploy, on its timer's thread: a failed deploy leaves the old release serving, as it
    would, and the pipeline says so."""
    try:
        host.deploy(deploy)
    except Exception:
        logging.getLogger("deploy").exception("deploy failed: the previous release keeps serving")


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
