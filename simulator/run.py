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
from obsim.scenario import Scenario, previous_release
from simulator.app_worker import Master, WorkerCollector
from simulator.external_services import SimulatedServices
from simulator.host_metrics import InfrastructureCollector, PostgresLocksCollector
from simulator.kernel import Kernel
from simulator.postgres import DatabaseServerModel, SimulatedPostgres
from simulator.virtual_world import APP_HOST, VirtualWorld
from simulator.web import Gateway, WsgiServer
from world import deployment, release
from world.external_models import service_models
from world.load import LoadGenerator
from world.randomness import derive_seed, stream
from world.service_host import ServiceHost
from world.telemetry_sink import SeededIds, TelemetrySink

SCRAPE_INTERVAL_S = 15.0
APP_CORES = 4
APP_CPU_MEDIAN_S = 0.004  # per request: routing, serialisation, ORM hydration
APP_CPU_PER_STATEMENT_S = 0.0002
APP_LOG_LINE_BYTES = 420  # the app host's disk writes are its JSON log lines

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
        writer = DatasetWriter(out)
        try:
            generation = Generation(scenario, seed, writer, Path(workdir))
            counts = generation.run(progress)
            writer.set_meta(requests=counts["requests"])
            writer.finish({**manifest, "counts": counts}, check)
            return counts
        except BaseException:
            writer.abort()
            raise


class Generation:
    """One scenario window: the world built, the service started in it, the web tier and the load
    in front of it, then virtual time run to the window's end."""

    def __init__(self, scenario: Scenario, seed: int, writer: DatasetWriter, workdir: Path) -> None:
        self.scenario = scenario
        self.seed = seed
        self.start_s = scenario.window.start.timestamp()
        self.end_s = scenario.window.end.timestamp()
        # The code to run is whatever service repository the worker put first on sys.path (the
        # checkout or a patched copy); a scenario with a deploy starts on the release before it.
        deployed_root = release.installed_root()
        previous = previous_release(scenario)
        self.first_code = release.load(
            deployed_root if previous is None else release.apply_patch(previous, workdir)
        )
        # The service runs as its repository's deployment files say (the first release's: the
        # master was started with them).
        self.conf = deployment.read(self.first_code.root)
        random.seed(derive_seed(seed, "apscheduler-jitter"))  # CronTrigger's jitter draws from module random
        self.kernel = Kernel(start=self.start_s)
        # The service was started some hours before the window: its worker and the connections
        # it opened while booting date from then.
        self.booted_at = self.start_s - stream(seed, "service-uptime").uniform(2 * 3600, 30 * 3600)
        self.sink = TelemetrySink(self.kernel, writer, self.first_code.path_prefix)
        self.postgres = self._database()
        self.world = VirtualWorld(
            self.kernel,
            self.sink,
            writer,
            self.postgres,
            SimulatedServices(
                self.kernel,
                service_models(scenario, self.start_s),
                SERVICE_HOSTS,
                stream(seed, "external-services"),
            ),
            lambda name: stream(seed, name),
            derive_seed(seed, "redis-server"),
            self.end_s,
        )
        self.host = ServiceHost(scenario, self.world, self.conf, deployed_root)

    def run(self, progress: Callable[[float], None] | None) -> dict[str, Any]:
        """The whole window; returns the summary counts."""
        _quiet_log_records()
        tenants = self._start_service()
        load = self._start_traffic(tenants)
        self._schedule(load)
        step = 60.0
        at = self.start_s
        while at < self.end_s:
            at = min(at + step, self.end_s)
            self.kernel.run(until=at)
            if progress is not None:
                progress((at - self.start_s) / (self.end_s - self.start_s))
        self.sink.flush()
        return dict(self.sink.counts, requests=load.sent, statements=self.postgres.statements)

    def _database(self) -> SimulatedPostgres:
        """The database server, its costs scaled to the scenario's data volume; what the service
        connected while booting started when it booted."""
        base = DatabaseServerModel()
        scale = self.scenario.data.volume_scale
        postgres = SimulatedPostgres(
            self.kernel,
            replace(
                base,
                cpu_per_step_s=base.cpu_per_step_s * scale,
                read_bytes_per_step=base.read_bytes_per_step * scale,
            ),
            stream(self.seed, "database-costs"),
        )
        postgres.booted_at = self.booted_at
        return postgres

    def _start_service(self) -> list[Any]:
        """The first release booted and its data seeded; returns the tenants."""
        deploy = self.scenario.deploy
        self.host.start(self.first_code, deploy.from_version if deploy else self.scenario.service_version)
        self.postgres.booted_at = None  # from now on a connection starts when it is opened
        summary = self.host.seed(
            derive_seed(self.seed, "seed-data"), self.scenario.window.start - timedelta(minutes=1)
        )
        return list(summary.tenants)

    def _start_traffic(self, tenants: list[Any]) -> LoadGenerator:
        """The web tier (gunicorn's master and worker, the WSGI server, the gateway), the hosts'
        collectors, and the load that drives them."""
        kernel, sink, seed = self.kernel, self.sink, self.seed
        infra = CollectorRegistry(auto_describe=True)
        if self.world.redis is not None:
            infra.register(self.world.redis)
        compute_rng = stream(seed, "app-compute")
        master = self.world.master = Master(
            kernel,
            self.host.running.app if self.host.running else None,
            self.host.reboot,
            lambda: self.host.running.code.database.db.engine if self.host.running else None,
            self.conf.threads,
            self.scenario.data.volume_scale,
            self._master_log,
            self._worker_ready,
            stream(seed, "worker-allocator"),
            limit_bytes=self.conf.memory_limit_bytes,
            booted_at=self.booted_at,
            variation=stream(seed, "worker-processes"),
        )
        infra.register(WorkerCollector(master, APP_HOST))
        server = WsgiServer(
            kernel,
            master,
            APP_HOST,
            self.conf.port,
            self.conf.backlog,
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
            self.conf.upstream_timeout_s,
        )
        idle_rng = stream(seed, "host-idle-cpu")
        infra.register(
            InfrastructureCollector(
                kernel,
                self.postgres,
                APP_HOST,
                APP_CORES,
                lambda: server.busy_seconds + self.postgres.statements * APP_CPU_PER_STATEMENT_S,
                lambda: (sink.counts["logs"] + len(sink.logs)) * APP_LOG_LINE_BYTES,
                lambda host: 0.04 + idle_rng.random() * 0.02,
            )
        )
        if self.scenario.exporters.postgres_locks:
            infra.register(PostgresLocksCollector(self.postgres))
        load = LoadGenerator(
            kernel, self.scenario.load, tenants, gateway.handle, stream(seed, "load"), self.end_s
        )
        self.host.start_jobs()
        self.world.registries.append(infra)
        return load

    def _schedule(self, load: LoadGenerator) -> None:
        """The scrapes, the jobs' first runs, the load and the scenario's deploy, on the window's
        timeline."""
        self.kernel.call_at(self.start_s, self._scrape)
        assert self.world.jobs is not None
        self.world.jobs.start()
        self.kernel.spawn(load.run, name="load")
        deploy = self.scenario.deploy
        if deploy is not None:
            self.kernel.call_at(self.start_s + deploy.at_minute * 60, lambda: self.host.deploy(deploy))

    def _scrape(self) -> None:
        """What the monitoring stack collects every interval: metrics, Redis's slowlog, sessions."""
        self.sink.scrape(self.world.registries)
        if self.world.redis is not None:
            for record in self.world.redis.ship_slowlog():
                self.sink.add_log(record)
        self.sink.add_sessions(session_rows(self.kernel.now, self.postgres))
        if self.kernel.now + SCRAPE_INTERVAL_S <= self.end_s:
            self.kernel.call_later(SCRAPE_INTERVAL_S, self._scrape)

    def _worker_ready(self, pid: int) -> None:
        """A new worker process serves: it starts with no request in flight (its database client
        starts with a new engine, and so with no transaction open), and gunicorn runs the
        deployment's hook."""
        code = self.host.running.code if self.host.running else None
        assert code is not None
        code.metrics.HTTP_SERVER_ACTIVE.set(0)
        self.host.worker_ready(pid)

    def _master_log(self, level: str, message: str) -> None:
        """A line of gunicorn's master process (its error log)."""
        self.sink.add_log(
            {
                "service": "platform-api",
                "host": APP_HOST,
                "level": level,
                "logger": "gunicorn.error",
                "message": message,
            }
        )


def _quiet_log_records() -> None:
    """What the JSON formatter never reads, LogRecord need not collect: the calling frame, the
    thread and the process (the logging HOWTO's "Optimization" settings)."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _pid_array(pids: list[int]) -> str | None:
    """``pg_blocking_pids`` as PostgreSQL prints an int[] (``{123,456}``), or None for none: the
    form a live recording's ``pg_blocking_pids(pid)::text`` has, so both read alike."""
    return "{" + ",".join(map(str, pids)) + "}" if pids else None


def session_rows(now: float, postgres: SimulatedPostgres) -> list[tuple[Any, ...]]:
    """One ``pg_stat_activity`` snapshot, each row with its ``pg_blocking_pids``, in the dataset's
    ``db_sessions`` column order."""
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
                _pid_array(postgres.row_locks.blocking_pids(b.pid)),
            )
        )
    return rows
