"""One generation run: wire the real application to the simulated world and run a scenario's window.

Call :func:`simulate` in a fresh process (``python -m obsim_cli.generation_worker``): the application keeps
process-wide state (its metrics registry, the database singleton, the installed clock), exactly as
it does in production, so each run gets a process of its own.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from obsim.dataset.writer import DatasetWriter
from obsim.scenario import Deploy, Scenario, previous_release
from simulator import external_services
from simulator.app_worker import Master, WorkerCollector
from simulator.host_metrics import InfrastructureCollector, PostgresLocksCollector
from simulator.job_runner import JobRunner
from simulator.kernel import Kernel
from simulator.postgres import PARAMSTYLE, SPEAK_POSTGRES, DatabaseServerModel, SimulatedPostgres
from simulator.redis_connection import connection_class
from simulator.redis_exporter import RedisExporter
from simulator.redis_server import RedisModel, RedisServer
from simulator.threads import VirtualClock, executor_factory
from simulator.virtual_pool import virtual_pool_class
from simulator.web import Gateway, WsgiServer
from world import deployment, release
from world.external_models import service_models
from world.load import LoadGenerator
from world.randomness import derive_seed, stream
from world.redis_keyspace import REDIS_RESIDENT_KEYS
from world.release import ServiceCode
from world.telemetry_sink import SeededIds, SinkHandler, TelemetrySink

SCRAPE_INTERVAL_S = 15.0
APP_HOST = "app-1"
APP_ADDRESS = "10.0.1.11"
APP_CORES = 4
APP_CPU_MEDIAN_S = 0.004  # per request: routing, serialisation, ORM hydration
APP_CPU_PER_STATEMENT_S = 0.0002
APP_LOG_LINE_BYTES = 420  # the app host's disk writes are its JSON log lines

# The web dashboard's processes keep their own connections to the shared instance.
REDIS_OTHER_CLIENTS = 24

# Where the service's settings point its external clients: host name -> simulated service.
SERVICE_HOSTS = {
    "validation.internal": "validation-service",
    "api.paystride.com": "payment-gateway",
    "api.mailvane.com": "email-provider",
}


def simulate(
    scenario: Scenario,
    seed: int,
    out: Path,
    manifest: dict[str, Any],
    progress: Callable[[float], None] | None = None,
    check: Callable[[sqlite3.Connection], None] | None = None,
) -> dict[str, Any]:
    """Run the scenario's window and write the dataset to ``out``; returns the summary counts.

    ``check`` reads the finished dataset before it is published and raises to refuse it
    (:meth:`DatasetWriter.finish`)."""
    with tempfile.TemporaryDirectory(prefix="obsim-release-") as workdir:
        return _simulate(scenario, seed, out, manifest, progress, check, Path(workdir))


def _simulate(
    scenario: Scenario,
    seed: int,
    out: Path,
    manifest: dict[str, Any],
    progress: Callable[[float], None] | None,
    check: Callable[[sqlite3.Connection], None] | None,
    workdir: Path,
) -> dict[str, Any]:
    # The code to run is whatever service repository the worker put first on sys.path (the checkout or
    # a patched copy); a scenario with a deploy starts on the release before it.
    deployed_root = release.installed_root()
    previous = previous_release(scenario)
    code = release.load(deployed_root if previous is None else release.apply_patch(previous, workdir))
    # The service runs as its repository's deployment files say (the first release's: the master
    # was started with them).
    conf = deployment.read(code.root)
    start = scenario.window.start.timestamp()
    end = scenario.window.end.timestamp()
    random.seed(derive_seed(seed, "apscheduler-jitter"))  # CronTrigger's jitter draws from module random

    kernel = Kernel(start=start)
    writer = DatasetWriter(out)
    try:
        sink = TelemetrySink(kernel, writer, code.parent)
        transport = external_services.SimulatedServices(
            kernel, service_models(scenario, start), SERVICE_HOSTS, stream(seed, "external-services")
        )
        app_trace_ids = SeededIds(stream(seed, "app-trace-ids"))
        # What the JSON formatter never reads, LogRecord need not collect: the calling frame, the
        # thread and the process (the logging HOWTO's "Optimization" settings).
        logging._srcfile = None  # type: ignore[attr-defined]
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False

        base_model = DatabaseServerModel()
        postgres = SimulatedPostgres(
            kernel,
            replace(
                base_model,
                cpu_per_step_s=base_model.cpu_per_step_s * scenario.data.volume_scale,
                read_bytes_per_step=base_model.read_bytes_per_step * scenario.data.volume_scale,
            ),
            stream(seed, "database-costs"),
        )
        # The service was started some hours before the window; what it connected while booting
        # started then.
        postgres.booted_at = start - stream(seed, "service-uptime").uniform(2 * 3600, 30 * 3600)
        redis: RedisExporter | None = None
        redis_network = stream(seed, "redis-network")

        def wire(code: ServiceCode, version: str) -> Any:
            """Start a process on ``code``: its settings, and the world's clock, threads, network,
            trace and log exporters installed where the service takes them.  Returns the settings."""
            settings = code.config.load_settings(
                environ={**scenario.app.settings, "SERVICE_VERSION": version},
                database_url="sqlite://",
                host_name=APP_HOST,
                service_name="platform-api",
            )
            code.clock.use(VirtualClock(kernel))
            code.concurrency.use_executor_factory(executor_factory(kernel))
            code.http_client.use_transport(transport)
            code.tracing.configure(
                settings.service_name,
                exporter=sink,
                ids=app_trace_ids,
                service_version=settings.service_version,
            )
            code.logging.configure_logging(settings, handler=SinkHandler(sink))
            if redis is not None:
                code.redis_client.use_connection_class(
                    connection_class(kernel, redis.server, APP_ADDRESS, redis_network)
                )
            return settings

        first_version = scenario.deploy.from_version if scenario.deploy else scenario.service_version
        settings = wire(code, first_version)
        # The world has a Redis when the service is configured to use one.
        if settings.session_store == "redis":
            redis = RedisExporter(
                RedisServer(
                    RedisModel(),
                    REDIS_RESIDENT_KEYS,
                    derive_seed(seed, "redis-server"),
                    start,
                    other_clients=REDIS_OTHER_CLIENTS,
                )
            )
            code.redis_client.use_connection_class(
                connection_class(kernel, redis.server, APP_ADDRESS, redis_network)
            )

        checkout_rng = stream(seed, "pool-checkouts")

        def engine_options(code: ServiceCode, settings: Any) -> dict[str, Any]:
            return {
                "poolclass": virtual_pool_class(kernel, code.pool.ObservedQueuePool, checkout_rng),
                "creator": lambda: postgres.connect(settings.service_name, APP_ADDRESS),
                "paramstyle": PARAMSTYLE,
                "plugins": [SPEAK_POSTGRES],
            }

        app = code.app.create_app(settings, **engine_options(code, settings))
        code.migrations.migrate(code.database.db.engine)
        postgres.booted_at = None  # from now on a connection starts when it is opened
        data = scenario.data
        summary = code.seed.seed_database(
            code.database.db.engine,
            seed=derive_seed(seed, "seed-data"),
            tenants=data.tenants,
            users_per_tenant=data.users_per_tenant,
            workflows_per_tenant=data.workflows_per_tenant,
            records_per_tenant=data.records_per_tenant,
            now=scenario.window.start - timedelta(minutes=1),
        )

        infra = CollectorRegistry(auto_describe=True)
        if redis is not None:
            infra.register(redis)
        compute_rng = stream(seed, "app-compute")
        running = {"code": code, "settings": settings}

        def rebuild_app() -> Any:
            """A new worker process, set up as ``wsgi.py`` does: a new engine and pool, the
            (idempotent) migrations, which also make the engine's first connection before any
            request can race for it, and the app built by its factory.  The dead worker's engine is
            let go silently: a killed process logs nothing, so its pool's dispose records are not
            the service's."""
            code, settings = running["code"], running["settings"]
            release.dispose_silently(code.database.db)
            code.database.db.configure(settings, **engine_options(code, settings))
            code.migrations.migrate(code.database.db.engine)
            return code.app.create_app(settings)

        def worker_ready() -> None:
            # A new process starts with no request in flight and no transaction open.
            code, settings = running["code"], running["settings"]
            code.metrics.HTTP_SERVER_ACTIVE.set(0)
            code.transactions._open.clear()
            logging.getLogger("platform.startup").info(
                "service started",
                extra={"db.pool.size": settings.db_pool_size, "web.threads": conf.threads},
            )

        def master_log(level: str, message: str) -> None:
            sink.add_log(
                {
                    "service": settings.service_name,
                    "host": APP_HOST,
                    "level": level,
                    "logger": "gunicorn.error",
                    "message": message,
                }
            )

        master = Master(
            kernel,
            app,
            rebuild_app,
            lambda: running["code"].database.db.engine,
            conf.threads,
            scenario.data.volume_scale,
            master_log,
            worker_ready,
            stream(seed, "worker-allocator"),
            limit_bytes=conf.memory_limit_bytes,
        )
        infra.register(WorkerCollector(master, APP_HOST))
        server = WsgiServer(
            kernel,
            master,
            APP_HOST,
            conf.port,
            conf.backlog,
            lambda: APP_CPU_MEDIAN_S * compute_rng.lognormvariate(0.0, 0.5),
            infra,
        )
        gateway = Gateway(
            kernel,
            server,
            sink,
            SeededIds(stream(seed, "gateway-trace-ids")),
            infra,
            stream(seed, "gateway-network"),
            conf.upstream_timeout_s,
        )
        idle_rng = stream(seed, "host-idle-cpu")
        infra.register(
            InfrastructureCollector(
                kernel,
                postgres,
                APP_HOST,
                APP_CORES,
                lambda: server.busy_seconds + postgres.statements * APP_CPU_PER_STATEMENT_S,
                lambda: (sink.counts["logs"] + len(sink.logs)) * APP_LOG_LINE_BYTES,
                lambda host: 0.04 + idle_rng.random() * 0.02,
            )
        )
        if scenario.exporters.postgres_locks:
            infra.register(PostgresLocksCollector(postgres))
        load = LoadGenerator(
            kernel, scenario.load, list(summary.tenants), gateway.handle, stream(seed, "load"), end
        )
        jobs = JobRunner(
            kernel, code.scheduler.create_scheduler(settings), sink, end, stream(seed, "scheduler-wakeups")
        )
        writer.add_jobs(jobs.job_rows())

        registries = [code.metrics.REGISTRY, infra]

        def redeploy(deploy: Deploy) -> None:
            """The deploy: the pipeline ships the new release and reloads the service (gunicorn's
            HUP, the scheduler restarted); the new worker takes over once it has booted, and the
            old one finishes what it had accepted."""
            sink.add_log(release.deploy_started(deploy))

            def boot() -> Any:
                old = running["code"]
                code = release.load(deployed_root)
                settings = wire(code, deploy.to_version)
                sink.app_parents = (*sink.app_parents, code.parent)
                running.update(code=code, settings=settings)
                app = code.app.create_app(settings, **engine_options(code, settings))
                code.migrations.migrate(code.database.db.engine)
                registries[0] = code.metrics.REGISTRY
                jobs.reload(code.scheduler.create_scheduler(settings))
                kernel.call_later(conf.graceful_timeout_s, lambda: release.dispose_silently(old.database.db))
                kernel.call_later(
                    conf.graceful_timeout_s, lambda: sink.add_log(release.deploy_finished(deploy, APP_HOST))
                )
                return app

            master.reload(boot)

        def scrape() -> None:
            sink.scrape(registries)
            if redis is not None:
                for record in redis.ship_slowlog():
                    sink.add_log(record)
            sink.add_sessions(_session_rows(kernel.now, postgres))
            if kernel.now + SCRAPE_INTERVAL_S <= end:
                kernel.call_later(SCRAPE_INTERVAL_S, scrape)

        kernel.call_at(start, scrape)
        jobs.start()
        kernel.spawn(load.run, name="load")
        if scenario.deploy is not None:
            deploy = scenario.deploy
            kernel.call_at(start + deploy.at_minute * 60, lambda: redeploy(deploy))

        step = 60.0
        at = start
        while at < end:
            at = min(at + step, end)
            kernel.run(until=at)
            if progress is not None:
                progress((at - start) / (end - start))
        sink.flush()
        counts = dict(sink.counts, requests=load.sent, statements=postgres.statements)
        writer.set_meta(requests=load.sent)
        writer.finish({**manifest, "counts": counts}, check)
        return counts
    except BaseException:
        writer.abort()
        raise


def _session_rows(now: float, postgres: SimulatedPostgres) -> list[tuple[Any, ...]]:
    rows = []
    for b in postgres.activity():
        wait_event_type, wait_event = postgres.wait_event(b)
        rows.append(
            (
                round(now, 3),
                b.pid,
                "platform",
                "platform",
                b.application_name,
                b.client_addr,
                round(b.backend_start, 6),
                None if b.xact_start is None else round(b.xact_start, 6),
                None if b.query_start is None else round(b.query_start, 6),
                round(b.state_change, 6),
                b.state,
                wait_event_type,
                wait_event,
                b.query,
            )
        )
    return rows
