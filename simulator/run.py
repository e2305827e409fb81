"""One generation run: wire the real application to the simulated world and run a scenario's window.

Call :func:`simulate` in a fresh process (``python -m simulator.worker``): the application keeps
process-wide state (its metrics registry, the database singleton, the installed clock), exactly as
it does in production, so each run gets a process of its own.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from obsim.dataset.writer import DatasetWriter
from obsim.scenario import Scenario, ServiceBehaviour
from simulator import external_services
from simulator.app_worker import Master, WorkerCollector
from simulator.host_metrics import InfrastructureCollector
from simulator.jobs import JobRunner
from simulator.kernel import Kernel
from simulator.load import LoadGenerator
from simulator.postgres import DatabaseServerModel, SimulatedPostgres
from simulator.randomness import derive_seed, stream
from simulator.redis_connection import connection_class
from simulator.redis_exporter import RedisExporter
from simulator.redis_server import KeyFamily, RedisModel, RedisServer
from simulator.telemetry import SeededIds, SinkHandler, TelemetrySink
from simulator.threads import VirtualClock, executor_factory
from simulator.virtual_pool import virtual_pool_class
from simulator.web import Gateway, WsgiServer

SCRAPE_INTERVAL_S = 15.0
APP_HOST = "app-1"
APP_ADDRESS = "10.0.1.11"
APP_CORES = 4
WEB_THREADS = 64
WEB_BACKLOG = 2048  # gunicorn's default listen backlog
APP_CPU_MEDIAN_S = 0.004  # per request: routing, serialisation, ORM hydration
APP_CPU_PER_STATEMENT_S = 0.0002
APP_LOG_LINE_BYTES = 420  # the app host's disk writes are its JSON log lines

_HEALTHY: dict[str, external_services.ServiceBehaviour] = {
    "validation-service": external_services.ServiceBehaviour(0.06, 0.35, error_rate=0.0005, reject_rate=0.03),
    "payment-gateway": external_services.ServiceBehaviour(0.25, 1.2, error_rate=0.002, reject_rate=0.05),
    "email-provider": external_services.ServiceBehaviour(0.12, 0.6, error_rate=0.001),
}


# The shared Redis instance's keys of its other clients, sized as production's INFO keyspace shows:
# the web dashboard's browser sessions and CSRF tokens, and its rendered-fragment cache.
REDIS_RESIDENT_KEYS = (
    KeyFamily("web:sess:", 620_000, expiring=True),
    KeyFamily("web:csrf:", 110_000, expiring=True),
    KeyFamily("cache:fragment:", 310_000, expiring=True),
)


def _behaviour(spec: ServiceBehaviour) -> external_services.ServiceBehaviour:
    return external_services.ServiceBehaviour(
        latency_median_s=spec.latency_median_ms / 1000,
        latency_p99_s=spec.latency_p99_ms / 1000,
        error_rate=spec.error_rate,
        hang_rate=spec.hang_rate,
        reject_rate=spec.reject_rate,
    )


def service_models(scenario: Scenario, start: float) -> dict[str, external_services.ServiceModel]:
    """Every external service's behaviour: healthy, plus the scenario's degradations placed on the
    timeline that starts at ``start`` (shared by the simulated run and live mode's fake services)."""
    models = {name: external_services.ServiceModel(name, healthy) for name, healthy in _HEALTHY.items()}
    for degradation in scenario.degradations:
        end = start + degradation.end_minute * 60 if degradation.end_minute is not None else float("inf")
        models[degradation.service].degradations.append(
            (start + degradation.start_minute * 60, end, _behaviour(degradation.behaviour))
        )
    return models


def simulate(
    scenario: Scenario,
    seed: int,
    out: Path,
    manifest: dict[str, Any],
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Run the scenario's window and write the dataset to ``out``; returns the summary counts."""
    # Imported here: the worker puts the (possibly patched) application on sys.path first.
    from app_under_test import seed as app_seed
    from app_under_test.api.app import create_app
    from app_under_test.lib import clock, concurrency, config, http_client, metrics, redis_client, tracing
    from app_under_test.lib.database import migrations, transactions
    from app_under_test.lib.database.client import db
    from app_under_test.lib.database.pool import ObservedQueuePool
    from app_under_test.lib.logging import configure_logging
    from app_under_test.services.job_scheduler import create_scheduler

    app_parent = str(Path(sys.modules["app_under_test"].__file__).resolve().parent.parent) + "/"
    start = scenario.window.start.timestamp()
    end = scenario.window.end.timestamp()
    random.seed(derive_seed(seed, "apscheduler-jitter"))  # CronTrigger's jitter draws from module random

    kernel = Kernel(start=start)
    writer = DatasetWriter(out)
    try:
        sink = TelemetrySink(kernel, writer, app_parent)
        settings = config.load_settings(
            environ=dict(scenario.app.settings),
            database_url="sqlite://",
            host_name=APP_HOST,
            service_name="platform-api",
        )
        clock.use(VirtualClock(kernel))
        concurrency.use_executor_factory(executor_factory(kernel))
        hosts = {
            "validation.internal": "validation-service",
            "payments.example.net": "payment-gateway",
            "mail.example.net": "email-provider",
        }
        http_client.use_transport(
            external_services.SimulatedServices(
                kernel, service_models(scenario, start), hosts, stream(seed, "external-services")
            )
        )
        tracing.configure(settings.service_name, exporter=sink, ids=SeededIds(stream(seed, "app-trace-ids")))
        configure_logging(settings, handler=SinkHandler(sink))
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
        )
        # The world has a Redis when the service is configured to use one.
        redis = None
        if settings.session_store == "redis":
            redis = RedisExporter(RedisServer(RedisModel(), REDIS_RESIDENT_KEYS))
            redis_client.use_connection_class(connection_class(kernel, redis.server, APP_ADDRESS))
        engine_options = {
            "poolclass": virtual_pool_class(kernel, ObservedQueuePool),
            "creator": lambda: postgres.connect(settings.service_name, APP_ADDRESS),
        }
        app = create_app(settings, **engine_options)
        migrations.migrate(db.engine)
        data = scenario.data
        summary = app_seed.seed_database(
            db.engine,
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

        def rebuild_app() -> Any:
            """A new worker process, set up as ``wsgi.py`` does: a new engine and pool, the
            (idempotent) migrations, which also make the engine's first connection before any
            request can race for it, and the app built by its factory.  The dead worker's engine is
            let go silently: a killed process logs nothing, so its pool's dispose records are not
            the service's."""
            logging.disable(logging.CRITICAL)
            try:
                db.dispose()
            finally:
                logging.disable(logging.NOTSET)
            db.configure(settings, **engine_options)
            migrations.migrate(db.engine)
            return create_app(settings)

        def worker_ready() -> None:
            # A new process starts with no request in flight and no transaction open.
            metrics.HTTP_SERVER_ACTIVE.set(0)
            transactions._open.clear()
            logging.getLogger("platform.startup").info(
                "service started", extra={"db.pool.size": settings.db_pool_size, "web.threads": WEB_THREADS}
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
            lambda: db.engine,
            WEB_THREADS,
            scenario.data.volume_scale,
            master_log,
            worker_ready,
        )
        infra.register(WorkerCollector(master, APP_HOST))
        server = WsgiServer(
            kernel,
            master,
            APP_HOST,
            WEB_BACKLOG,
            lambda: APP_CPU_MEDIAN_S * compute_rng.lognormvariate(0.0, 0.5),
            infra,
        )
        gateway = Gateway(kernel, server, sink, SeededIds(stream(seed, "gateway-trace-ids")), infra)
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
        load = LoadGenerator(
            kernel, scenario.load, list(summary.tenants), gateway.handle, stream(seed, "load"), end
        )
        jobs = JobRunner(kernel, create_scheduler(settings), sink, end)
        writer.add_jobs(jobs.job_rows())

        registries = [metrics.REGISTRY, infra]

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
        writer.finish({**manifest, "counts": counts})
        return counts
    except BaseException:
        writer.abort()
        raise


def _session_rows(now: float, postgres: SimulatedPostgres) -> list[tuple[Any, ...]]:
    rows = []
    for b in postgres.activity():
        idle = b.state != "active"
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
                "Client" if idle else None,
                "ClientRead" if idle else None,
                b.query,
            )
        )
    return rows
