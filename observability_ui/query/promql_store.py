"""Series metadata and samples for the PromQL engine, read from a dataset's SQLite database once.

A dataset never changes after it is written, so what a query reads is kept for every later query:
series metadata per sample name, and each series' samples as two numpy arrays (timestamps, values),
loaded for all the series of a sample name in one scan the first time a selector needs them.  The
whole metric data of a founding scenario is a few million floats, tens of megabytes at most; the
views share one :class:`MetricCache` per dataset across requests and threads.  A live recording does
change: it is read through a cache of its current extent instead (:meth:`MetricCache.for_dataset`),
so new samples and series show up as soon as they are committed.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import promql_parser

from observability_ui.query import budget, log_streams, regex
from observability_ui.query.log_streams import LogStreams
from observability_ui.query.promql_model import METRIC_NAME, QueryError
from obsim.dataset.reader import Dataset

Predicate = Callable[[str], bool]
LOAD_CHUNK = 500  # series ids per query: well inside SQLite's limit on bound parameters
#: points of query answers kept per dataset (as Python tuples, about 80 bytes a point: 16 MB), and
#: the largest answer kept: the overview's 3 hours is about 40,000
RESULT_POINTS = 200_000
LARGEST_RESULT_POINTS = 50_000


@dataclass(frozen=True)
class SeriesMeta:
    """A ``metric_series`` row; ``labels`` include ``__name__`` and omit empty values, as in Prometheus."""

    id: int
    labels: dict[str, str]


@dataclass(frozen=True)
class Samples:
    """One series' samples in ascending time."""

    timestamps: np.ndarray
    values: np.ndarray


@dataclass
class MetricCache:
    """What has been read of one dataset's metrics; safe to share between threads."""

    names: list[str] | None = None
    series: dict[str, list[SeriesMeta]] = field(default_factory=dict)
    samples: dict[int, Samples] = field(default_factory=dict)
    timelines: dict[bytes, np.ndarray] = field(default_factory=dict)
    gaps: dict[int, float] = field(default_factory=dict)  # id of a shared timeline -> its scrape interval
    last_scrape: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # answers to whole queries, most recently used last, within RESULT_POINTS (see MetricStore.answer)
    results: OrderedDict[Hashable, tuple[int, Any]] = field(default_factory=OrderedDict)
    result_points: int = 0
    # a live recording's cache and the extent (recorded-until moment) it holds the samples of
    recording: tuple[float, MetricCache] | None = None
    # a finished dataset's log records in arrays (MetricStore.log_streams), read once under logs_lock
    logs: LogStreams | None = None
    logs_lock: threading.Lock = field(default_factory=threading.Lock)

    def for_dataset(self, dataset: Dataset) -> MetricCache:
        """The cache to read ``dataset`` through: this one for a finished dataset, which never
        changes; for a recording, one of its current snapshot's extent, replaced (never filled
        further) once the recording has moved on, so no request sees samples older than its own."""
        if not dataset.recording:
            return self
        extent = dataset.window()[1]
        with self.lock:
            if self.recording is None or self.recording[0] != extent:
                self.recording = (extent, MetricCache())
            return self.recording[1]


def held_bytes(cache: MetricCache) -> int:
    """The bytes of the sample arrays ``cache`` holds (a timeline shared by many series counted once)
    and of its log arrays."""
    arrays = {id(a): a for s in list(cache.samples.values()) for a in (s.timestamps, s.values)}
    arrays |= {id(a): a for a in list(cache.timelines.values())}
    logs = cache.logs.nbytes if cache.logs is not None else 0
    return logs + sum(array.nbytes for array in arrays.values())


class MetricCaches:
    """One :class:`MetricCache` per dataset, for a server reading several (an interview day), within a
    memory budget: :meth:`trim`, run after each request that read metrics, drops the least recently
    used datasets' caches (never the most recent one) until what is held fits ``budget_bytes``; a
    dropped dataset is read again from SQLite when asked for.  A request already holding a dropped
    cache keeps it to its end; the memory goes when nothing holds it."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._caches: OrderedDict[str, MetricCache] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> MetricCache:
        """The cache of the dataset at ``key``, made the most recently used."""
        with self._lock:
            cache = self._caches.pop(key, None) or MetricCache()
            self._caches[key] = cache
            return cache

    def trim(self) -> None:
        """Drop the least recently used caches until the rest fit the budget (the newest always stays)."""
        with self._lock:
            if len(self._caches) < 2:
                return
            sizes = {key: held_bytes(cache) for key, cache in self._caches.items()}
            total = sum(sizes.values())
            for key in list(self._caches)[:-1]:  # oldest first
                if total <= self.budget_bytes:
                    break
                total -= sizes[key]
                del self._caches[key]


class MetricStore:
    """Query-side view of a dataset's metrics over one connection, filling (and reusing) a cache."""

    def __init__(self, dataset: Dataset, cache: MetricCache | None = None) -> None:
        self._connection = dataset.connection
        self.window = dataset.window()
        self._cache = (cache if cache is not None else MetricCache()).for_dataset(dataset)
        self._finished = not dataset.recording
        self.memo: dict[Hashable, Any] = {}  # results an evaluator may reuse for this store's lifetime

    def answer(self, key: Hashable, evaluate: Callable[[], Any], points: Callable[[Any], int]) -> Any:
        """The answer to the query ``key`` (its text and instants): evaluated once, then kept for every
        request on this dataset, since a dataset's answers never change (a live recording's are kept
        with its extent's cache).  Candidates of one scenario ask the same questions (the overview's
        27 queries over the same preset range): kept answers, ``points`` each, are evicted least
        recently used past :data:`RESULT_POINTS`; a larger one than :data:`LARGEST_RESULT_POINTS` is
        not kept.  Answers are shared: callers build new values from them, never change them."""
        cache = self._cache
        with cache.lock:
            kept = cache.results.get(key)
            if kept is not None:
                cache.results.move_to_end(key)
                return kept[1]
        result = evaluate()
        size = points(result)
        if size > LARGEST_RESULT_POINTS:
            return result
        with cache.lock:
            if key not in cache.results:
                cache.results[key] = (size, result)
                cache.result_points += size
            while cache.result_points > RESULT_POINTS:
                _, (dropped, _) = cache.results.popitem(last=False)
                cache.result_points -= dropped
        return result

    def log_streams(self) -> LogStreams | None:
        """The dataset's log records in arrays (:mod:`.log_streams`), read on first use and kept with
        its metric arrays; None for a live recording, whose logs are still being written."""
        if not self._finished:
            return None
        cache = self._cache
        with cache.logs_lock:  # one reader per dataset: the others wait for its arrays
            if cache.logs is None:
                cache.logs = log_streams.load(self._connection)
            return cache.logs

    def metric_names(self) -> list[str]:
        """Every sample name (``x_total``, ``x_bucket``, ...), sorted: what a selector's name can be."""
        if self._cache.names is None:
            rows = self._connection.execute(
                "SELECT DISTINCT sample_name FROM metric_series ORDER BY sample_name"
            )
            self._cache.names = [name for (name,) in rows]
        return self._cache.names

    def series(self, metric: str) -> list[SeriesMeta]:
        """The series of one sample name (empty for an unknown name)."""
        cached = self._cache.series.get(metric)
        if cached is None:
            rows = self._connection.execute(
                "SELECT id, labels FROM metric_series WHERE sample_name = ? ORDER BY id", (metric,)
            )
            cached = [SeriesMeta(series_id, _labels(metric, labels)) for series_id, labels in rows]
            self._cache.series[metric] = cached
        return cached

    def arrays(self, metas: Iterable[SeriesMeta]) -> list[Samples]:
        """Every sample of each series, loading the ones not read before in a few range scans."""
        metas = list(metas)
        missing = [meta.id for meta in metas if meta.id not in self._cache.samples]
        if missing:
            with self._cache.lock:
                self._load([series_id for series_id in missing if series_id not in self._cache.samples])
        return [self._cache.samples[meta.id] for meta in metas]

    def last_scrape(self) -> float:
        """When the newest scrape was (-inf without metrics): staleness needs a scrape to have
        happened after a series' newest sample."""
        if self._cache.last_scrape is None:
            (newest,) = self._connection.execute("SELECT max(ts) FROM metric_samples").fetchone()
            self._cache.last_scrape = -math.inf if newest is None else float(newest)
        return self._cache.last_scrape

    def scrape_intervals(self, samples: list[Samples]) -> np.ndarray:
        """Each series' scrape interval, its smallest gap between samples; a series with a single
        sample takes the smallest of the others' (or none: infinity).  Series scraped together
        share one timeline array, so the gap is computed once per timeline."""
        gaps = self._cache.gaps
        own = []
        for series in samples:
            gap = gaps.get(id(series.timestamps))
            if gap is None:
                timestamps = series.timestamps
                gap = float(np.diff(timestamps).min()) if len(timestamps) > 1 else math.inf
                gaps[id(timestamps)] = gap  # every timeline here is the cache's, alive as long as it
            own.append(gap)
        fallback = min(own, default=math.inf)
        return np.array([fallback if math.isinf(gap) else gap for gap in own], dtype=np.float64)

    def _shared(self, timestamps: np.ndarray) -> np.ndarray:
        """One array per distinct scrape timeline: series scraped together share it (less memory,
        and window bounds are computed once per timeline, not once per series)."""
        key = timestamps.tobytes()
        shared = self._cache.timelines.get(key)
        if shared is None:
            shared = self._cache.timelines[key] = timestamps.copy()
        return shared

    def _load(self, series_ids: list[int]) -> None:
        empty = Samples(np.zeros(0), np.zeros(0))
        for first in budget.checked(range(0, len(series_ids), LOAD_CHUNK)):
            chunk = series_ids[first : first + LOAD_CHUNK]
            rows = self._connection.execute(
                f"SELECT series_id, ts, value FROM metric_samples WHERE series_id IN"
                f" ({','.join('?' * len(chunk))}) ORDER BY series_id, ts",
                chunk,
            ).fetchall()
            table = np.array(rows, dtype=np.float64).reshape(-1, 3)
            ids = table[:, 0].astype(np.int64)
            bounds = np.concatenate(([0], np.flatnonzero(np.diff(ids)) + 1, [len(ids)])).tolist()
            for lo, hi in itertools.pairwise(bounds) if len(ids) else ():
                timestamps = self._shared(table[lo:hi, 1])
                self._cache.samples[int(ids[lo])] = Samples(timestamps, table[lo:hi, 2].copy())
            for series_id in chunk:
                self._cache.samples.setdefault(series_id, empty)

    def label_names(self, metric: str) -> list[str]:
        """Label names used by ``metric``'s series, sorted, without ``__name__``."""
        return sorted({name for meta in self.series(metric) for name in meta.labels} - {METRIC_NAME})

    def label_values(self, metric: str, label: str) -> list[str]:
        """Values ``label`` takes across ``metric``'s series, sorted."""
        return sorted({meta.labels[label] for meta in self.series(metric) if label in meta.labels})

    def select(self, selector: promql_parser.VectorSelector, query: str) -> list[SeriesMeta]:
        """The series a vector selector matches; only names its ``__name__`` constraints allow are loaded."""
        matchers = [(matcher.name, _predicate(matcher, query)) for matcher in selector.matchers.matchers]
        if selector.name:
            matchers.append((METRIC_NAME, selector.name.__eq__))
        name_matchers = [predicate for label, predicate in matchers if label == METRIC_NAME]
        names = [name for name in self.metric_names() if all(predicate(name) for predicate in name_matchers)]
        return [
            meta
            for name in names
            for meta in self.series(name)
            if all(predicate(meta.labels.get(label, "")) for label, predicate in matchers)
        ]


def _labels(metric: str, encoded: str) -> dict[str, str]:
    labels = {name: value for name, value in json.loads(encoded).items() if value != ""}
    labels[METRIC_NAME] = metric
    return labels


def _predicate(matcher: promql_parser.Matcher, query: str) -> Predicate:
    """A test for one label matcher; regexes are RE2's, fully anchored, as in Prometheus."""
    value = matcher.value
    if matcher.op == promql_parser.MatchOp.Equal:
        return value.__eq__
    if matcher.op == promql_parser.MatchOp.NotEqual:
        return value.__ne__
    try:
        pattern = regex.matcher(value)
    except regex.RegexError as exc:
        position = query.find(value)
        raise QueryError(
            f"invalid regular expression {value!r}: {exc.reason}", position if position >= 0 else None
        ) from exc
    if matcher.op == promql_parser.MatchOp.Re:
        return lambda label: pattern.fullmatch(label) is not None
    return lambda label: pattern.fullmatch(label) is None
