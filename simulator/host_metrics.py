"""Metrics the application does not export itself: its hosts and its database server.

What node_exporter and postgres_exporter would report next to the service: CPU utilisation and
disk I/O per host, and pg_stat_activity counts and oldest transaction age by state.  Utilisation is
computed over each scrape interval from the work the models accumulated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from simulator.kernel import Kernel
from simulator.postgres import SimulatedPostgres
from world.postgres_metrics import pg_activity_families, pg_locks_families


class _Utilisation:
    """Turns a cumulative busy-seconds counter into utilisation over the last interval."""

    def __init__(self, kernel: Kernel, busy_seconds: Callable[[], float], cores: int) -> None:
        self.kernel = kernel
        self.busy_seconds = busy_seconds
        self.cores = cores
        self._last_time = kernel.now
        self._last_busy = busy_seconds()

    def sample(self) -> float:
        now, busy = self.kernel.now, self.busy_seconds()
        elapsed = now - self._last_time
        ratio = 0.0 if elapsed <= 0 else (busy - self._last_busy) / (elapsed * self.cores)
        self._last_time, self._last_busy = now, busy
        return min(1.0, max(0.0, ratio))


class InfrastructureCollector(Collector):
    def __init__(
        self,
        kernel: Kernel,
        postgres: SimulatedPostgres,
        app_host: str,
        app_cores: int,
        app_busy_seconds: Callable[[], float],
        app_written_bytes: Callable[[], float],
        idle_cpu: Callable[[str], float],
    ) -> None:
        self.kernel = kernel
        self.postgres = postgres
        self.app_host = app_host
        self.idle_cpu = idle_cpu
        self.app_written_bytes = app_written_bytes
        model = postgres.model
        self._db_cpu = _Utilisation(kernel, lambda: postgres.cpu_seconds, model.cores)
        self._app_cpu = _Utilisation(kernel, app_busy_seconds, app_cores)

    def collect(self) -> Iterable[Metric]:
        db_host = self.postgres.model.host_name
        cpu = GaugeMetricFamily(
            "system_cpu_utilization_ratio",
            "Share of CPU time not idle, over the last interval.",
            labels=["host_name"],
        )
        cpu.add_metric([db_host], min(1.0, self._db_cpu.sample() + self.idle_cpu(db_host)))
        cpu.add_metric([self.app_host], min(1.0, self._app_cpu.sample() + self.idle_cpu(self.app_host)))
        yield cpu
        disk = CounterMetricFamily(
            "system_disk_io_bytes", "Disk bytes transferred.", labels=["host_name", "disk_io_direction"]
        )
        disk.add_metric([db_host, "read"], float(self.postgres.read_bytes))
        disk.add_metric([db_host, "write"], float(self.postgres.write_bytes))
        disk.add_metric([self.app_host, "read"], 0.0)
        disk.add_metric([self.app_host, "write"], float(self.app_written_bytes()))
        yield disk
        yield from self._activity()

    def _activity(self) -> Iterable[Metric]:
        sessions = ((backend.state, backend.xact_start) for backend in self.postgres.activity())
        return pg_activity_families(
            "platform", sessions, self.kernel.now, self.postgres.model.max_connections
        )


class PostgresLocksCollector(Collector):
    """postgres_exporter's locks collector (``pg_locks_count``) over the simulated server's locks.

    The row-lock model holds the locks that make sessions wait; what every statement takes besides
    (an ``AccessShareLock`` on what it reads, held to its transaction's end) is counted once per
    session in a statement or a transaction: the relation it read, its indexes left out."""

    def __init__(self, postgres: SimulatedPostgres) -> None:
        self.postgres = postgres

    def collect(self) -> Iterable[Metric]:
        counts = self.postgres.row_locks.mode_counts()
        counts["accesssharelock"] += sum(backend.state != "idle" for backend in self.postgres.activity())
        return pg_locks_families("platform", counts)
