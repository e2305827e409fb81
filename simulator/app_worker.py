"""The application's worker process on its host, as gunicorn runs it: booted, OOM-killed, rebooted.

The :class:`Master` plays gunicorn's arbiter and the container's memory cgroup.  It boots a
:class:`WorkerProcess` by building the application again through its factory (``build``), so the
new worker starts with what a freshly forked process has: an empty heap, new caches, a new engine
and pool.  At the end of every request it measures what the worker holds
(:mod:`simulator.process_memory`): memory grows only by what requests leave behind, so that is
where the container's usage crosses its limit and the kernel's OOM killer sends the worker SIGKILL:

- every request the worker had accepted dies with it, the one whose allocation crossed the limit
  included (the gateway answers 502), and its tasks are frozen, never to run again, not even their
  cleanup code (:meth:`Kernel.freeze`);
- the database sees the dead worker's connections close (their backends end): those of its
  requests, and any a finished request left checked out;
- the master logs what gunicorn logs and forks a new worker, which serves after ``boot_s``.
  Connections arriving meanwhile wait in the listen socket's backlog, which the master owns.

A deploy (:meth:`Master.reload`) replaces the worker gracefully instead: the new one boots on the
new code while the old one serves, then the old one drains.

Simplifications: the scheduled jobs are modelled as running outside the killed worker (they keep
their own tasks and sessions), and the application's metric registry survives a restart, as
prometheus_client's multiprocess mode keeps a dead worker's counters.  What a new process starts
afresh is its in-flight gauge, reset by ``on_ready`` (which is handed the new worker's pid), and its
database client, which the build configures anew (a new engine, pool and registry of open
transactions).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import greenlet
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event

from simulator.kernel import Kernel, Semaphore, Wait
from simulator.process_memory import (
    GC_PAUSE_BUCKETS,
    AllocatorModel,
    AllocatorSlack,
    GcCosts,
    GcModel,
    RetainedHeap,
)

MIB = 1024 * 1024


class WorkerProcess:
    """One worker, from its fork: its application (once booted), threads, heap and the requests
    it has accepted."""

    def __init__(
        self, kernel: Kernel, pid: int, threads: int, gc: GcModel, slack: AllocatorSlack, base_rss_bytes: int
    ) -> None:
        self.kernel = kernel
        self.pid = pid
        self.started_at = kernel.now
        self.base_rss_bytes = base_rss_bytes  # what the booted process holds before any request
        self.app: Any = None
        self.threads = Semaphore(kernel, threads)
        self.heap = RetainedHeap(lambda: ())
        self.gc = gc
        self.slack = slack
        self.heap_bytes = 0
        self.heap_objects = 0
        self.paused_until = 0.0
        self.accepted: dict[greenlet.greenlet, Callable[[], None]] = {}

    @property
    def ready(self) -> bool:
        return self.app is not None

    def boot(self, app: Any) -> None:
        """The application is built: the worker serves it, and holds what it stores."""
        self.app = app
        self.heap = RetainedHeap(lambda: app.extensions.values())

    def stall(self) -> None:
        """Wait out a stop-the-world collection in progress: no thread runs Python code meanwhile."""
        if self.paused_until > self.kernel.now:
            self.kernel.sleep(self.paused_until - self.kernel.now)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.kernel.now) + seconds


class Master:
    """gunicorn's master process and the container's memory limit (``limit_bytes``, the
    deployment's), around one worker.

    ``booted_at``: when the first worker started, if before now (the service was running before
    the window; its start was not now, and logs nothing now).  ``variation``: draws that make each
    forked process its own (its boot RSS, its collections' pauses); without it every process is
    alike, to the byte.
    """

    BOOT_RSS_SD = 0.02  # a booted worker's resident size varies by this share from boot to boot

    def __init__(
        self,
        kernel: Kernel,
        app: Any,
        build: Callable[[], Any],
        engine: Callable[[], Any],
        threads: int,
        scale: float,
        log: Callable[[str, str], None],
        on_ready: Callable[[int], None],
        rng: random.Random,
        limit_bytes: int,
        base_rss_bytes: int = 212 * MIB,
        base_objects: int = 600_000,
        master_rss_bytes: int = 41 * MIB,
        boot_s: float = 8.0,
        first_pid: int = 23,
        costs: GcCosts | None = None,
        allocator: AllocatorModel | None = None,
        booted_at: float | None = None,
        variation: random.Random | None = None,
    ) -> None:
        self.kernel = kernel
        self.build = build
        self.engine = engine
        self.threads = threads
        self.scale = scale
        self.log = log
        self.on_ready = on_ready
        self.base_rss_bytes = base_rss_bytes
        self.base_objects = base_objects
        self.master_rss_bytes = master_rss_bytes
        self.limit_bytes = limit_bytes
        self.boot_s = boot_s
        self.costs = costs or GcCosts()
        self.allocator = allocator or AllocatorModel()
        self.rng = rng
        self.variation = variation
        self.oom_kills = 0
        self._next_pid = first_pid
        self._booting: list[Wait] = []
        self._held: dict[Any, greenlet.greenlet] = {}
        self.worker = self._fork()
        if booted_at is None:
            self._ready(self.worker, app)
        else:
            self.worker.started_at = booted_at
            self._ready(self.worker, app, announce=False)

    # -- what the web server asks ------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """Connections waiting to be served: in the listen backlog or the worker's queue."""
        return len(self._booting) + self.worker.threads.waiting

    def accept(self, reset: Callable[[], None]) -> WorkerProcess:
        """The worker that takes the calling request (waiting while one boots); ``reset`` is
        called if that worker dies before answering."""
        while not self.worker.ready:
            waiter = Wait(self.kernel)
            self._booting.append(waiter)
            self.kernel.wait(waiter)
        worker = self.worker
        worker.accepted[greenlet.getcurrent()] = reset
        return worker

    def finish(self, worker: WorkerProcess) -> None:
        """A request's Python work is done: what it left in memory is accounted (the OOM killer
        strikes the worker, and this request with it, when the container goes over its limit),
        then its allocations may trigger a full collection."""
        size, objects = worker.heap.measure()
        worker.gc.promote(round((objects - worker.heap_objects) * self.scale))
        worker.heap_bytes, worker.heap_objects = size, objects
        if self.container_bytes() > self.limit_bytes:
            self._kill(worker)
            self.kernel.park()
        worker.accepted.pop(greenlet.getcurrent(), None)
        worker.slack.request_done(self.kernel.now)
        pause = worker.gc.allocate(self.heap_objects(worker))
        if pause > 0:
            worker.slack.full_collection(self.kernel.now)
            worker.pause(pause)
        worker.stall()

    # -- memory ------------------------------------------------------------------------------
    def heap_objects(self, worker: WorkerProcess) -> int:
        return self.base_objects + round(worker.heap_objects * self.scale)

    def resident_bytes(self, worker: WorkerProcess) -> int:
        held = worker.slack.held(self.kernel.now)
        return worker.base_rss_bytes + round(worker.heap_bytes * self.scale) + held

    def container_bytes(self) -> int:
        return self.master_rss_bytes + self.resident_bytes(self.worker)

    # -- lifecycle ---------------------------------------------------------------------------
    def _kill(self, worker: WorkerProcess) -> None:
        self.oom_kills += 1
        for task, reset in worker.accepted.items():
            self.kernel.freeze(task)
            reset()
        for connection, task in list(self._held.items()):
            if task in worker.accepted or task.dead:  # its requests', and any a request left open
                del self._held[connection]
                connection.close()
        self.log("error", f"Worker (pid:{worker.pid}) was sent SIGKILL! Perhaps out of memory?")
        booting = self.worker = self._fork()
        self.log("info", f"Booting worker with pid: {booting.pid}")
        self.kernel.call_later(self.boot_s, lambda: self._ready(booting, self.build()))

    def reload(self, build: Callable[[], Any]) -> None:
        """A deploy: gunicorn's HUP.  A worker is forked on the new code (``build`` makes its
        application; a later worker is built as usual, on what is then the running code); the old
        worker serves until the new one is ready, then stops taking requests and finishes those
        it has."""
        self.log("info", "Handling signal: hup")
        self.log("info", "Hang up: Master")
        booting = self._fork()
        self.log("info", f"Booting worker with pid: {booting.pid}")

        def take_over() -> None:
            old, self.worker = self.worker, booting
            self._ready(booting, build())
            self.log("info", f"Worker exiting (pid: {old.pid})")

        self.kernel.call_later(self.boot_s, take_over)

    def _fork(self) -> WorkerProcess:
        pid = self._next_pid
        self._next_pid += 1 + pid % 7  # the master's other children take pids in between
        slack = AllocatorSlack(self.allocator, self.rng, self.kernel.now)
        if self.variation is None:
            return WorkerProcess(
                self.kernel,
                pid,
                self.threads,
                GcModel(self.costs, self.base_objects),
                slack,
                self.base_rss_bytes,
            )
        rss = round(self.base_rss_bytes * self.variation.gauss(1.0, self.BOOT_RSS_SD))
        gc = GcModel(self.costs, self.base_objects, random.Random(self.variation.getrandbits(64)))
        return WorkerProcess(self.kernel, pid, self.threads, gc, slack, rss)

    def _ready(self, worker: WorkerProcess, app: Any, announce: bool = True) -> None:
        self._track(self.engine())
        worker.boot(app)
        if announce:
            self.on_ready(worker.pid)
        waiting, self._booting = self._booting, []
        for waiter in waiting:
            waiter.fire()

    def _track(self, engine: Any) -> None:
        """Remember which task holds each pooled connection, so a dead worker's connections close."""
        held = self._held

        def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            held[dbapi_connection] = greenlet.getcurrent()

        def checkin(dbapi_connection: Any, record: Any) -> None:
            held.pop(dbapi_connection, None)

        event.listen(engine, "checkout", checkout)
        event.listen(engine, "checkin", checkin)


class WorkerCollector(Collector):
    """What node and container exporters and the worker's process collector report about it."""

    def __init__(self, master: Master, host_name: str) -> None:
        self.master = master
        self.host_name = host_name

    def collect(self) -> Iterable[Metric]:
        master, host = self.master, self.host_name
        worker = master.worker
        container = [host, "platform-api"]
        usage = GaugeMetricFamily(
            "container_memory_working_set_bytes",
            "Current working set of the container in bytes.",
            labels=["host_name", "container"],
        )
        usage.add_metric(container, master.container_bytes())
        yield usage
        limit = GaugeMetricFamily(
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
            labels=["host_name", "container"],
        )
        limit.add_metric(container, master.limit_bytes)
        yield limit
        ooms = CounterMetricFamily(
            "container_oom_events",
            "Count of out of memory events observed for the container.",
            labels=["host_name", "container"],
        )
        ooms.add_metric(container, master.oom_kills)
        yield ooms
        yield from self._process(worker, host)

    def _process(self, worker: WorkerProcess, host: str) -> Iterable[Metric]:
        master = self.master
        rss = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory size in bytes.", labels=["host_name"]
        )
        rss.add_metric([host], master.resident_bytes(worker))
        yield rss
        started = GaugeMetricFamily(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            labels=["host_name"],
        )
        started.add_metric([host], worker.started_at)
        yield started
        collections = CounterMetricFamily(
            "python_gc_collections",
            "Number of times this generation was collected",
            labels=["host_name", "generation"],
        )
        pauses = HistogramMetricFamily(
            "python_gc_duration_seconds",
            "Time spent in garbage collection, by generation.",
            labels=["host_name", "generation"],
        )
        for generation, histogram in enumerate(worker.gc.pauses):
            collections.add_metric([host, str(generation)], histogram.count)
            buckets = [
                (str(bound), float(count))
                for bound, count in zip(GC_PAUSE_BUCKETS, histogram.buckets, strict=True)
            ]
            buckets.append(("+Inf", float(histogram.count)))
            pauses.add_metric([host, str(generation)], buckets, histogram.sum)
        yield collections
        yield pauses
