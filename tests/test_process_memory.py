"""The worker's memory model and its OOM kill and restart, on their own (no dataset needed)."""

from __future__ import annotations

import random
import sys
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine

from platform_api.api.response_cache import ResponseCache
from platform_api.lib.cache import TTLCache
from simulator.app_worker import MIB, Master
from simulator.kernel import Kernel
from simulator.process_memory import AllocatorModel, GcCosts, GcModel, RetainedHeap, deep_size


def _body(rows: int) -> dict[str, Any]:
    return {"latest": [{"id": i, "kind": "order", "payload": {"status": "pending"}} for i in range(rows)]}


def test_deep_size_walks_plain_data_and_counts_tracked_containers():
    body = _body(10)
    size, objects = deep_size(body)
    # The body, the list and each row; a dict of scalars (the payload) is not tracked by the
    # collector, as in CPython.
    assert objects == 1 + 1 + 10
    assert size > sys.getsizeof(body) + sys.getsizeof(body["latest"]) + 20 * sys.getsizeof({})


def test_deep_size_does_not_walk_into_foreign_objects():
    engine = create_engine("sqlite://")
    holder = {"engine": engine}
    # The engine counts its own size only: nothing it references is walked.
    assert deep_size(holder) == (sys.getsizeof(holder) + sys.getsizeof("engine") + sys.getsizeof(engine), 2)


def test_retained_heap_follows_the_apps_stores_incrementally():
    cache = ResponseCache("test_bodies")
    app = SimpleNamespace(extensions={"deps": SimpleNamespace(reports=cache)})
    # SimpleNamespace is not an application object: the stores are found through app objects only.
    heap = RetainedHeap(lambda: [cache])
    empty = heap.measure()
    for key in range(50):
        cache.get_or_render(key, lambda: _body(20))
    grown = heap.measure()
    assert grown[0] - empty[0] > 50 * deep_size(_body(20))[0] * 0.9
    assert grown[1] - empty[1] == 50 * deep_size(_body(20))[1]
    assert RetainedHeap(lambda: app.extensions.values()).measure() == (0, 0)


def test_retained_heap_forgets_evicted_entries():
    cache = TTLCache("test_keys", ttl=60, max_entries=10)
    heap = RetainedHeap(lambda: [cache])
    for key in range(10):
        cache.set(str(key), _body(5))
    full = heap.measure()
    for key in range(10, 30):
        cache.set(str(key), _body(5))
    bounded = heap.measure()  # old entries are evicted as new ones arrive
    assert bounded[1] == full[1] and abs(bounded[0] - full[0]) < 0.01 * full[0]


def test_no_full_collection_without_heap_growth():
    gc = GcModel(GcCosts(), heap_objects=600_000)
    pauses = [gc.allocate(600_000) for _ in range(10_000)]
    assert sum(pauses) == 0
    assert gc.pauses[0].count > 0 and gc.pauses[1].count > 0 and gc.pauses[2].count == 0


def test_full_collections_follow_growth_and_last_longer_on_a_bigger_heap():
    costs = GcCosts()
    gc = GcModel(costs, heap_objects=600_000)
    heap = 600_000
    pauses = []
    for _ in range(2_000):
        gc.promote(2_000)
        heap += 2_000
        pause = gc.allocate(heap)
        if pause:
            pauses.append(pause)
    assert len(pauses) >= 5
    assert pauses == sorted(pauses)
    assert pauses[-1] >= 3 * pauses[0]
    assert pauses[0] >= 600_000 * 1.25 * costs.seconds_per_object


class _App:
    """Stands for the Flask app: what the master needs of it is ``extensions``."""

    def __init__(self) -> None:
        self.extensions = {"deps": ResponseCache("restart_test_bodies")}


def _master(kernel: Kernel, logs: list[str], built: list[_App]) -> Master:
    engine = create_engine("sqlite://")

    def build() -> _App:
        built.append(_App())
        return built[-1]

    return Master(
        kernel,
        build(),
        build,
        lambda: engine,
        threads=4,
        scale=1.0,
        log=lambda level, message: logs.append(f"{level}: {message}"),
        on_ready=lambda pid: logs.append("ready"),
        rng=random.Random(0),
        base_rss_bytes=100 * MIB,
        master_rss_bytes=10 * MIB,
        limit_bytes=120 * MIB,
        boot_s=8.0,
        allocator=AllocatorModel(retained_median_bytes=0),  # exact sizes: no allocator slack
    )


def test_the_oom_killer_kills_the_worker_and_the_master_boots_a_fresh_one():
    kernel = Kernel(start=0.0)
    logs: list[str] = []
    built: list[_App] = []
    master = _master(kernel, logs, built)
    first = master.worker
    assert first.ready and logs == ["ready"]
    cache = first.app.extensions["deps"]
    resets: list[str] = []
    finished: list[str] = []

    def request(name: str, work_s: float, bodies: int) -> None:
        worker = master.accept(lambda: resets.append(name))
        kernel.sleep(work_s)
        for _ in range(bodies):  # about 0.5 MiB each: 20 take the 110 MiB base over the 120 MiB limit
            cache.get_or_render(
                len(finished) * 1000 + len(cache._bodies), lambda: {"rows": [bytes(512 * 1024)]}
            )
        master.finish(worker)
        finished.append(f"{name} by {worker.pid}")

    kernel.spawn(request, "small", 0.5, 2)
    kernel.spawn(request, "in-flight", 10.0, 0)
    kernel.spawn(request, "over the limit", 1.0, 40)
    kernel.spawn(request, "during boot", 0.1, 0, delay=2.0)
    kernel.run(until=1.5)
    assert master.oom_kills == 1 and not master.worker.ready
    assert master.container_bytes() == 110 * MIB  # the master and a freshly forked worker
    assert sorted(resets) == ["in-flight", "over the limit"]  # the request that crossed the limit dies too
    second_pid = first.pid + 1 + first.pid % 7
    assert logs[-2:] == [
        f"error: Worker (pid:{first.pid}) was sent SIGKILL! Perhaps out of memory?",
        f"info: Booting worker with pid: {second_pid}",
    ]
    kernel.run(until=30.0)
    assert finished == [f"small by {first.pid}", f"during boot by {second_pid}"]  # the killed never end
    second = master.worker
    assert second.ready and second.started_at == 1.0 and logs[-1] == "ready"
    assert second.app is built[1] and second.app.extensions["deps"] is not cache
    assert second.heap.measure()[0] < 1 * MIB
    assert master.container_bytes() < 112 * MIB and master.oom_kills == 1
