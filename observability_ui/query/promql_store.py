"""Series metadata and samples for the PromQL engine, read straight from a dataset's SQLite database.

Series metadata (a few hundred rows) is cached per sample name on first use; samples (about a million
rows) never are: each query loads just the time span it needs of just the series its selectors match,
one indexed range scan of ``metric_samples``'s primary key per series.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import promql_parser

from observability_ui.query.promql_model import METRIC_NAME, QueryError
from obsim.dataset.reader import Dataset

Predicate = Callable[[str], bool]


@dataclass(frozen=True)
class SeriesMeta:
    """A ``metric_series`` row; ``labels`` include ``__name__`` and omit empty values, as in Prometheus."""

    id: int
    labels: dict[str, str]


class MetricStore:
    """Query-side view of a dataset's metrics: cached series metadata, samples loaded on demand."""

    def __init__(self, dataset: Dataset) -> None:
        self._connection = dataset.connection
        self.window = dataset.window()
        self._names: list[str] | None = None
        self._series: dict[str, list[SeriesMeta]] = {}

    def metric_names(self) -> list[str]:
        """Every sample name (``x_total``, ``x_bucket``, ...), sorted: what a selector's name can be."""
        if self._names is None:
            rows = self._connection.execute(
                "SELECT DISTINCT sample_name FROM metric_series ORDER BY sample_name"
            )
            self._names = [name for (name,) in rows]
        return self._names

    def series(self, metric: str) -> list[SeriesMeta]:
        """The series of one sample name (empty for an unknown name)."""
        cached = self._series.get(metric)
        if cached is None:
            rows = self._connection.execute(
                "SELECT id, labels FROM metric_series WHERE sample_name = ? ORDER BY id", (metric,)
            )
            cached = [SeriesMeta(series_id, _labels(metric, labels)) for series_id, labels in rows]
            self._series[metric] = cached
        return cached

    def label_names(self, metric: str) -> list[str]:
        """Label names used by ``metric``'s series, sorted, without ``__name__``."""
        return sorted({name for meta in self.series(metric) for name in meta.labels} - {METRIC_NAME})

    def label_values(self, metric: str, label: str) -> list[str]:
        """Values ``label`` takes across ``metric``'s series, sorted."""
        return sorted({meta.labels[label] for meta in self.series(metric) if label in meta.labels})

    def samples(self, series_id: int, after: float, until: float) -> tuple[list[float], list[float]]:
        """Timestamps and values of one series in ``(after, until]``, ascending."""
        rows = self._connection.execute(
            "SELECT ts, value FROM metric_samples WHERE series_id = ? AND ts > ? AND ts <= ? ORDER BY ts",
            (series_id, after, until),
        ).fetchall()
        return [ts for ts, _ in rows], [value for _, value in rows]

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
    """A test for one label matcher; regexes are fully anchored, as in Prometheus."""
    value = matcher.value
    if matcher.op == promql_parser.MatchOp.Equal:
        return value.__eq__
    if matcher.op == promql_parser.MatchOp.NotEqual:
        return value.__ne__
    try:
        pattern = re.compile(value)
    except re.error as exc:
        position = query.find(value)
        raise QueryError(
            f"invalid regular expression {value!r}: {exc}", position if position >= 0 else None
        ) from exc
    if matcher.op == promql_parser.MatchOp.Re:
        return lambda label: pattern.fullmatch(label) is not None
    return lambda label: pattern.fullmatch(label) is None
