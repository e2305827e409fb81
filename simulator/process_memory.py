"""The application worker's memory: what its in-process stores really hold, and CPython's collector.

The worker's resident memory is a fixed base (interpreter, Flask, SQLAlchemy, the ORM's mappers:
what a freshly booted worker holds) plus the **measured** size of what the application keeps in its
per-process stores: every mapping held by an object of the application that hangs off the Flask
app's ``extensions`` (its caches, in practice).  Entries are measured once, when they appear, by
walking them (``sys.getsizeof`` over the containers and values reachable from them), and forgotten
when the application removes them; so a sample costs a key comparison, not a walk of the heap.

Seeded data is small: ``scale`` (the scenario's ``data.volume_scale``, how many production rows a
seeded row stands for) multiplies the measured bytes and objects, as it multiplies the database's
work per row, since what a cached report or page holds grows with the rows behind it.

:class:`GcModel` is CPython 3.11's generational collector (thresholds 700, 10, 10; a full collection
only once the objects promoted since the last one exceed a quarter of the long-lived heap), driven
by the allocations of the requests served and by the measured growth of the heap.  Young
collections are cheap and part of the per-request CPU the web server already models; a full
collection traverses every tracked object and stops the whole process for that long.

:class:`AllocatorSlack` is the memory requests have already freed but the allocator still holds
(pymalloc's partly used arenas, glibc's heap above its trim threshold): each request leaves a
log-normal amount behind, it is returned to the operating system gradually, and a full collection
frees arenas at once.  So resident memory rises and falls with the traffic, as a real worker's does.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

APP_PACKAGE = "platform_api"
_LEAVES = (str, bytes, int, float, bool, type(None), datetime, date, time, timedelta)
_CONTAINERS = (dict, list, tuple, set, frozenset)
_HAVE_GC = 1 << 14  # Py_TPFLAGS_HAVE_GC: instances of the type can be tracked by the collector
_ATOMIC = frozenset(_LEAVES)  # never tracked: checked first, as most values are of these types


def tracked_at_rest(item: Any) -> bool:
    """Whether the collector tracks ``item`` once a collection has examined it.

    ``gc.is_tracked`` is not used: CPython untracks a tuple (or a dict) that holds nothing
    trackable only when a collection happens to examine it, so its answer depends on when the
    process's real collector last ran, and with it the measured heap, the modelled collections and a
    whole dataset would change with how many objects anything in the process allocates.  This is
    CPython's own rule (``_PyTuple_MaybeUntrack``, ``_PyDict_MaybeUntrack``), applied as if that
    collection had run: what long-lived store entries are.
    """
    kind = type(item)
    if kind in _ATOMIC or not kind.__flags__ & _HAVE_GC:
        return False
    if kind is tuple:
        return _holds_trackable(item)
    if kind is dict:
        return _holds_trackable(item.values()) or _holds_trackable(item)
    return True


def _holds_trackable(values: Iterable[Any]) -> bool:
    """Whether any of ``values`` keeps its tuple or dict tracked (``_PyObject_GC_MAY_BE_TRACKED``)."""
    for value in values:
        kind = type(value)
        if kind in _ATOMIC:
            continue
        if kind.__flags__ & _HAVE_GC and (kind is not tuple or tracked_at_rest(value)):
            return True
    return False


def deep_size(value: Any) -> tuple[int, int]:
    """``(bytes, tracked objects)`` of ``value`` and everything it holds.

    Walks plain data (containers, scalars, dates) and the application's own objects; anything else
    (clients, engines, locks) counts its own size only, so the walk never leaves the data.  Tracked
    means tracked by the collector at rest (:func:`tracked_at_rest`).
    """
    seen: set[int] = set()
    stack = [value]
    size = objects = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        size += sys.getsizeof(item)
        if isinstance(item, _LEAVES):
            continue
        objects += tracked_at_rest(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            stack.extend(item)
        elif _is_app_object(item) and hasattr(item, "__dict__"):
            stack.append(vars(item))
    return size, objects


def _is_app_object(item: Any) -> bool:
    return type(item).__module__.startswith(APP_PACKAGE)


def app_stores(roots: Iterable[Any]) -> Iterator[dict[Any, Any]]:
    """The mappings the application's per-process objects hold (one attribute deep)."""
    for root in roots:
        if not _is_app_object(root):
            continue
        for holder in (root, *vars(root).values()):
            if not _is_app_object(holder) or not hasattr(holder, "__dict__"):
                continue
            for attribute in vars(holder).values():
                if type(attribute) is dict:
                    yield attribute


@dataclass
class _Store:
    mapping: dict[Any, Any]
    entries: dict[Any, tuple[int, int]] = field(default_factory=dict)
    size: int = 0
    objects: int = 0


class RetainedHeap:
    """Bytes and objects held by the application's stores, measured incrementally."""

    def __init__(self, roots: Callable[[], Iterable[Any]]) -> None:
        self.roots = roots
        self._stores: dict[int, _Store] = {}

    def measure(self) -> tuple[int, int]:
        """``(bytes, tracked objects)`` held right now (the measured process, unscaled)."""
        size = objects = 0
        for mapping in app_stores(self.roots()):
            store = self._stores.get(id(mapping))
            if store is None or store.mapping is not mapping:
                store = self._stores[id(mapping)] = _Store(mapping)
            self._update(store)
            size += sys.getsizeof(mapping) + store.size
            objects += 1 + store.objects
        return size, objects

    @staticmethod
    def _update(store: _Store) -> None:
        """Forget the entries the application removed and measure the ones it added.

        Runs after every request, so the unchanged case must be cheap: comparing the two key views
        is a set comparison done in C (a same-size swap of keys, a TTL cache expiring and refilling,
        still shows), and the differences are taken the same way.
        """
        entries, mapping = store.entries, store.mapping
        if entries.keys() == mapping.keys():
            return
        for key in entries.keys() - mapping.keys():
            gone_size, gone_objects = entries.pop(key)
            store.size -= gone_size
            store.objects -= gone_objects
        for key in mapping.keys() - entries.keys():
            key_size, key_objects = deep_size(key)
            value_size, value_objects = deep_size(mapping[key])
            entries[key] = (key_size + value_size, key_objects + value_objects)
            store.size += key_size + value_size
            store.objects += key_objects + value_objects


@dataclass(frozen=True)
class GcCosts:
    """CPython's collector as configured in production (``gc.get_threshold()`` defaults)."""

    threshold0: int = 700
    threshold1: int = 10
    threshold2: int = 10
    allocations_per_request: int = 30_000  # container objects a Flask + ORM request allocates
    seconds_per_object: float = 250e-9  # traversal per tracked object: its references, cache-cold


GC_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PauseHistogram:
    """Cumulative bucket counts of collection pauses, as a histogram metric exposes them."""

    def __init__(self) -> None:
        self.buckets = [0] * len(GC_PAUSE_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float, times: int = 1) -> None:
        if times == 0:  # most requests trigger no collection of some generation: nothing to add
            return
        self.count += times
        self.sum += seconds * times
        for index, bound in enumerate(GC_PAUSE_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += times


class GcModel:
    """Collections by generation, and the pause of each, for one process.

    A full collection's pause is the traversal of the heap, times ``spread``'s draw when one is
    given: the same heap takes longer or shorter to walk as caches are warm or cold and other
    threads run, so no two pauses are alike."""

    PAUSE_SIGMA = 0.15  # log-normal spread of a full collection's pause around its traversal cost

    def __init__(self, costs: GcCosts, heap_objects: int, spread: random.Random | None = None) -> None:
        self.costs = costs
        self.spread = spread
        self.pauses = [PauseHistogram(), PauseHistogram(), PauseHistogram()]
        self._allocated = 0
        self._gen1_due = 0
        self._gen2_due = 0
        self._long_lived_total = heap_objects
        self._long_lived_pending = 0

    def promote(self, objects: int) -> None:
        """Objects that survived young collections and now sit in the oldest generation."""
        self._long_lived_pending = max(0, self._long_lived_pending + objects)

    def allocate(self, heap_objects: int) -> float:
        """One request's allocations; returns the full collections' pause they triggered (s)."""
        costs = self.costs
        self._allocated += costs.allocations_per_request
        young, self._allocated = divmod(self._allocated, costs.threshold0)
        pause = 0.0
        gen0 = gen1 = 0
        while young:
            # The young collections up to the next one that is due to collect generation 1 too are
            # counted at once: only that one has more to decide.
            until_gen1 = costs.threshold1 - self._gen1_due
            if young < until_gen1:
                self._gen1_due += young
                gen0 += young
                break
            young -= until_gen1
            gen0 += until_gen1 - 1
            self._gen1_due = 0
            self._gen2_due += 1
            if self._gen2_due >= costs.threshold2 and self._long_lived_pending > self._long_lived_total / 4:
                self._gen2_due = 0
                self._long_lived_total = heap_objects
                self._long_lived_pending = 0
                seconds = heap_objects * costs.seconds_per_object
                if self.spread is not None:
                    seconds *= self.spread.lognormvariate(0.0, self.PAUSE_SIGMA)
                self.pauses[2].observe(seconds)
                pause += seconds
            else:
                gen1 += 1
        self.pauses[0].observe(costs.threshold0 * costs.seconds_per_object, gen0)
        self.pauses[1].observe(costs.threshold0 * costs.threshold1 * costs.seconds_per_object, gen1)
        return pause


@dataclass(frozen=True)
class AllocatorModel:
    """How much a request's freed memory the allocator keeps, and for how long."""

    retained_median_bytes: int = 20 * 1024
    retained_sigma: float = 1.1
    release_time_s: float = 75.0  # time constant of the return to the operating system
    kept_by_full_collection: float = 0.55  # share a full collection leaves held


class AllocatorSlack:
    """One worker's freed-but-held memory (bytes), decaying between the events that change it."""

    def __init__(self, model: AllocatorModel, rng: random.Random, now: float) -> None:
        self.model = model
        self.rng = rng
        self._bytes = 0.0
        self._at = now

    def _decay(self, now: float) -> None:
        if now > self._at:
            self._bytes *= math.exp((self._at - now) / self.model.release_time_s)
            self._at = now

    def request_done(self, now: float) -> None:
        self._decay(now)
        model = self.model
        self._bytes += model.retained_median_bytes * self.rng.lognormvariate(0.0, model.retained_sigma)

    def full_collection(self, now: float) -> None:
        self._decay(now)
        self._bytes *= self.model.kept_by_full_collection

    def held(self, now: float) -> int:
        self._decay(now)
        return round(self._bytes)
