"""The world a generation runs the service in: virtual time, a modelled PostgreSQL and Redis,
simulated external services, and telemetry into the dataset.

:class:`VirtualWorld` is the simulator's answer to :class:`world.service_host.World`: where the
host's steps need the infrastructure (a process's clock and threads, its network, its database
connections, its scheduler, a deploy's hand-over), this is what they get.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from obsim.dataset.writer import DatasetWriter
from simulator.app_worker import Master
from simulator.external_services import SimulatedServices
from simulator.job_runner import JobRunner
from simulator.kernel import Kernel
from simulator.postgres import PARAMSTYLE, SPEAK_POSTGRES, SimulatedPostgres
from simulator.redis_connection import connection_class
from simulator.redis_exporter import RedisExporter
from simulator.redis_server import RedisModel, RedisServer
from simulator.threads import VirtualClock, executor_factory
from simulator.virtual_pool import virtual_pool_class
from world import deployment
from world.redis_keyspace import REDIS_RESIDENT_KEYS
from world.release import ServiceCode
from world.scheduled_jobs import Schedule
from world.service_host import RunningRelease
from world.telemetry_sink import SeededIds, SinkHandler, TelemetrySink

APP_HOST = "app-1"
APP_ADDRESS = "10.0.1.11"
# The web dashboard's processes keep their own connections to the shared instance.
REDIS_OTHER_CLIENTS = 24


class VirtualWorld:
    """The simulated infrastructure around the service, on one kernel's virtual time."""

    def __init__(
        self,
        kernel: Kernel,
        sink: TelemetrySink,
        writer: DatasetWriter,
        postgres: SimulatedPostgres,
        transport: SimulatedServices,
        streams: Callable[[str], random.Random],
        redis_seed: int,
        end: float,
    ) -> None:
        self.kernel = kernel
        self.sink = sink
        self.writer = writer
        self.postgres = postgres
        self.transport = transport
        self.end = end
        self.span_processors: list[Any] = [sink]
        self.trace_ids = SeededIds(streams("app-trace-ids"))
        self.log_handler: logging.Handler = SinkHandler(sink)
        self.redis: RedisExporter | None = None
        self._redis_seed = redis_seed
        self._redis_network = streams("redis-network")
        self._checkouts = streams("pool-checkouts")
        self._scheduler_wakeups = streams("scheduler-wakeups")
        self.registries: list[CollectorRegistry] = []  # the running release's, then the world's
        self.jobs: JobRunner | None = None
        self.master: Master | None = None  # set once the web tier is built

    # -- World ----------------------------------------------------------------------------------
    def settings_overrides(self) -> dict[str, Any]:
        return {"database_url": "sqlite://", "host_name": APP_HOST, "service_name": deployment.SERVICE}

    def attach(self, code: ServiceCode, settings: Any) -> None:
        """Virtual time and threads, the simulated services behind the clients, and the modelled
        Redis when the service is configured to use one (the world has it from then on)."""
        if self.redis is None and settings.session_store == "redis":
            self.redis = RedisExporter(
                RedisServer(
                    RedisModel(),
                    REDIS_RESIDENT_KEYS,
                    self._redis_seed,
                    self.kernel.now,
                    other_clients=REDIS_OTHER_CLIENTS,
                )
            )
        code.plumbing.configure(
            clock=VirtualClock(self.kernel),
            executor_factory=executor_factory(self.kernel),
            http_transport=self.transport,
        )
        if self.redis is not None:
            code.plumbing.configure(
                redis_connection_class=connection_class(
                    self.kernel, self.redis.server, APP_ADDRESS, self._redis_network
                )
            )

    def engine_options(self, code: ServiceCode, settings: Any) -> dict[str, Any]:
        return {
            "poolclass": virtual_pool_class(self.kernel, code.pool.ObservedQueuePool, self._checkouts),
            "creator": lambda: self.postgres.connect(settings.service_name, APP_ADDRESS),
            "paramstyle": PARAMSTYLE,
            "plugins": [SPEAK_POSTGRES],
        }

    def engine_created(self, engine: Any) -> None:
        return None

    def release_loaded(self, code: ServiceCode) -> None:
        if self.registries:
            self.sink.code_prefixes = (*self.sink.code_prefixes, code.path_prefix)
            self.registries[0] = code.metrics.REGISTRY
        else:
            self.registries.append(code.metrics.REGISTRY)

    def run_jobs(self, schedule: Schedule, replacing: RunningRelease | None) -> None:
        """The first scheduler's jobs run from :meth:`JobRunner.start`; a deploy's restart keeps
        each job's schedule and runs in progress."""
        if self.jobs is None:
            self.jobs = JobRunner(self.kernel, schedule, self.sink, self.end, self._scheduler_wakeups)
            self.writer.add_jobs(self.jobs.job_rows())
        else:
            self.jobs.reload(schedule)

    def hand_over(self, take_over: Callable[[], Any], retire: Callable[[], None], grace_s: float) -> None:
        assert self.master is not None

        def boot() -> Any:
            app = take_over()
            self.kernel.call_later(grace_s, retire)
            return app

        self.master.reload(boot)

    def log(self, entry: dict[str, Any]) -> None:
        self.sink.add_log(entry)
