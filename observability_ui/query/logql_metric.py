"""LogQL metric queries: counts and rates of matching log lines per stream, and aggregations of them.

The subset Loki users count and rank with::

    metric      = aggregation | range_agg | "(" metric ")"
    aggregation = op [grouping] "(" [number ","] metric ")" [grouping]
    op          = "sum" | "count" | "min" | "max" | "avg" | "topk" | "bottomk"   (a number only for topk/bottomk)
    range_agg   = ("count_over_time" | "rate") "(" log_query "[" duration "]" ")"
    grouping    = ("by" | "without") "(" [label {"," label}] ")"

``log_query`` is the log query of :mod:`.logql_syntax` (selector, line and field filters); a stream
is one combination of the stream labels (service, level, host, logger), as Loki's streams are one
label set.  As in Loki (and Prometheus), a range aggregation's window at time ``t`` is ``(t - d, t]``
(lines in whole microseconds): ``count_over_time`` counts a stream's lines in it, ``rate`` divides that by
the window's seconds, and a stream with no line in a window has no value there.  Aggregations
group by the listed labels (``by``) or by all but them (``without``); ``topk``/``bottomk`` keep the
``k`` largest (smallest) streams of each group at each step.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

import numpy as np

from observability_ui.query import budget
from observability_ui.query.logql import register_functions, where_clause
from observability_ui.query.logql_syntax import STREAM_LABELS, LogQuery, LogQueryError
from observability_ui.query.logql_syntax import parse as parse_log_query
from observability_ui.query.promql_model import Series, label_key, mask_strings

RANGE_FUNCTIONS = ("count_over_time", "rate")
AGGREGATIONS = ("sum", "count", "min", "max", "avg", "topk", "bottomk")
MAX_STEPS = 11_000
_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*")
_GROUPING = re.compile(r"\s*(by|without)\s*\(\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)?\s*\)\s*")
_PARAMETER = re.compile(r"\s*([0-9]+)\s*,")
_DURATION = re.compile(r"\[\s*([0-9]+)(ms|s|m|h|d)\s*\]\s*\)\s*")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class RangeAggregation:
    """``count_over_time`` or ``rate`` of a log query over windows of ``range_ms``."""

    function: str
    query: LogQuery
    range_ms: int


@dataclass(frozen=True)
class Aggregation:
    """An aggregation of ``operand`` in groups (``by``: the labels kept; else the labels dropped)."""

    op: str
    operand: RangeAggregation | Aggregation
    labels: tuple[str, ...]
    by: bool
    k: int = 0


MetricQuery = RangeAggregation | Aggregation


def is_metric_query(text: str) -> bool:
    """Whether ``text`` starts as a metric query does (a function or aggregation), not a selector."""
    match = _NAME.match(mask_strings(text)[0])
    return match is not None and match.group(1) in (*RANGE_FUNCTIONS, *AGGREGATIONS)


def parse(text: str) -> MetricQuery:
    """A metric query, or a :class:`LogQueryError` at the offset of what cannot be read."""
    masked = mask_strings(text)[0]
    query, end = _Reader(text, masked).metric(0)
    if masked[end:].strip():
        raise LogQueryError("unexpected text after the metric query", end)
    return query


@dataclass(frozen=True)
class _Reader:
    text: str
    masked: str  # the text with string literals blanked, so that nothing inside them is read as syntax

    def metric(self, at: int) -> tuple[MetricQuery, int]:
        stripped = len(self.masked) - len(self.masked[at:].lstrip())
        if self.masked.startswith("(", stripped):
            inner, end = self.metric(stripped + 1)
            return inner, self._expect(")", end)
        match = _NAME.match(self.masked, at)
        if match is None or match.group(1) not in (*RANGE_FUNCTIONS, *AGGREGATIONS):
            found = match.group(1) if match else self.masked[at:].strip()[:1] or "the end"
            raise LogQueryError(
                f"expected count_over_time, rate or an aggregation ({', '.join(AGGREGATIONS)}), found {found!r}",
                stripped,
            )
        name = match.group(1)
        if name in RANGE_FUNCTIONS:
            return self.range_aggregation(name, self._expect("(", match.end()))
        return self.aggregation(name, match.end())

    def range_aggregation(self, function: str, at: int) -> tuple[RangeAggregation, int]:
        duration = None
        for candidate in _DURATION.finditer(self.masked, at):
            duration = candidate  # the log query may hold brackets only inside strings: masked
            break
        if duration is None:
            raise LogQueryError(
                f'{function}() needs a log query and a range, like {function}({{level="error"}}[1m])', at
            )
        inner = self.text[at : duration.start()]
        try:
            query = parse_log_query(inner)
        except LogQueryError as error:
            raise LogQueryError(
                error.message, None if error.position is None else at + error.position
            ) from None
        range_ms = int(duration.group(1)) * _UNIT_MS[duration.group(2)]
        if range_ms <= 0:
            raise LogQueryError("the range must be longer than zero", duration.start())
        return RangeAggregation(function, query, range_ms), duration.end()

    def aggregation(self, op: str, at: int) -> tuple[Aggregation, int]:
        grouping = _GROUPING.match(self.masked, at)
        at = grouping.end() if grouping else at
        at = self._expect("(", at)
        k = 0
        if op in ("topk", "bottomk"):
            parameter = _PARAMETER.match(self.masked, at)
            if parameter is None:
                raise LogQueryError(f"{op} needs a whole number first, like {op}(5, ...)", at)
            k, at = int(parameter.group(1)), parameter.end()
        operand, at = self.metric(at)
        at = self._expect(")", at)
        after = _GROUPING.match(self.masked, at)
        if grouping and after:
            raise LogQueryError(
                "give by/without once, before or after the aggregation's argument", after.start()
            )
        grouping = grouping or after
        at = after.end() if after else at
        labels = tuple(re.split(r"\s*,\s*", grouping.group(2))) if grouping and grouping.group(2) else ()
        return Aggregation(op, operand, labels, by=grouping is None or grouping.group(1) == "by", k=k), at

    def _expect(self, char: str, at: int) -> int:
        rest = self.masked[at:]
        stripped = at + len(rest) - len(rest.lstrip())
        if not self.masked.startswith(char, stripped):
            raise LogQueryError(f"expected {char!r}", stripped)
        return stripped + 1


# -- evaluation ------------------------------------------------------------------------------------------
Rows = list[tuple[dict[str, str], np.ndarray, np.ndarray]]  # labels, values and presence per step


def query_range(db: sqlite3.Connection, text: str, start: float, end: float, step: float) -> list[Series]:
    """Evaluate the metric query at ``start``, ``start + step``, ... up to ``end`` (epoch seconds)."""
    start_ms, end_ms, step_ms = round(start * 1000), round(end * 1000), round(step * 1000)
    if end_ms < start_ms:
        raise LogQueryError("the time range ends before it starts")
    if step_ms <= 0:
        raise LogQueryError("the step must be positive")
    if (end_ms - start_ms) // step_ms + 1 > MAX_STEPS:
        raise LogQueryError(f"more than {MAX_STEPS:,} steps: use a larger step or a shorter range")
    steps = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
    rows = _evaluate(db, parse(text), steps)
    series = [
        Series(
            labels,
            [(int(t) / 1000, float(v)) for t, v, has in zip(steps, values, present, strict=True) if has],
        )
        for labels, values, present in rows
    ]
    return sorted((s for s in series if s.points), key=lambda s: label_key(s.labels))


def query_instant(db: sqlite3.Connection, text: str, at: float) -> list[Series]:
    """Evaluate the metric query at one time: each series carries a single point."""
    return query_range(db, text, at, at, 1.0)


def _evaluate(db: sqlite3.Connection, query: MetricQuery, steps: np.ndarray) -> Rows:
    if isinstance(query, RangeAggregation):
        return _range_aggregation(db, query, steps)
    return _aggregate(query, _evaluate(db, query.operand, steps))


def _range_aggregation(db: sqlite3.Connection, query: RangeAggregation, steps: np.ndarray) -> Rows:
    """Lines per stream in each window ``(t - range, t]``, from one scan of the rows they can hold."""
    register_functions(db)
    # every line a window can hold: ``ts >= low AND ts < high`` takes them all, the windows cut exactly
    low, high = (int(steps[0]) - query.range_ms) / 1000, (int(steps[-1]) + 1) / 1000
    where = where_clause(query.query, low, high)
    columns = ", ".join(STREAM_LABELS)
    times: dict[tuple[str, ...], list[float]] = {}
    for ts, *stream in budget.checked(
        db.execute(f"SELECT ts, {columns} FROM logs WHERE {where.text} ORDER BY ts", where.params)
    ):
        times.setdefault(tuple(stream), []).append(ts)
    rows: Rows = []
    for stream, stamps in times.items():
        # in whole microseconds (Loki keeps nanoseconds; a float epoch second resolves a fraction of one)
        logged, ends = np.round(np.array(stamps) * 1e6).astype(np.int64), steps * 1000
        counts = np.searchsorted(logged, ends, side="right") - np.searchsorted(
            logged, ends - query.range_ms * 1000, side="right"
        )
        values = counts / (query.range_ms / 1000) if query.function == "rate" else counts.astype(np.float64)
        rows.append((dict(zip(STREAM_LABELS, stream, strict=True)), values, counts > 0))
    return rows


def _aggregate(query: Aggregation, rows: Rows) -> Rows:
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[int]]] = {}
    for index, (labels, _, _) in enumerate(rows):
        kept = {name: value for name, value in labels.items() if (name in query.labels) == query.by}
        groups.setdefault(label_key(kept), (kept, []))[1].append(index)
    result: Rows = []
    for labels, members in groups.values():
        values = np.stack([rows[index][1] for index in members])
        present = np.stack([rows[index][2] for index in members])
        if query.op in ("topk", "bottomk"):
            result.extend(_select_k(query, [rows[index] for index in members], values, present))
            continue
        counts = present.sum(axis=0)
        masked = np.where(present, values, np.nan)
        if query.op == "sum":
            out = np.where(present, values, 0.0).sum(axis=0)
        elif query.op == "count":
            out = counts.astype(np.float64)
        elif query.op == "avg":
            out = np.where(present, values, 0.0).sum(axis=0) / np.maximum(counts, 1)
        else:
            with np.errstate(all="ignore"):
                out = np.nanmax(masked, axis=0) if query.op == "max" else np.nanmin(masked, axis=0)
        result.append((labels, out, counts > 0))
    return result


def _select_k(query: Aggregation, members: Rows, values: np.ndarray, present: np.ndarray) -> Rows:
    """The ``k`` largest (``topk``) or smallest values present at each step keep their stream's labels."""
    ranked = np.where(present, values if query.op == "bottomk" else -values, np.inf)
    order = np.argsort(ranked, axis=0, kind="stable")
    chosen = np.zeros(present.shape, dtype=bool)
    np.put_along_axis(chosen, order[: query.k], True, axis=0)
    chosen &= present
    return [(labels, row_values, chosen[index]) for index, (labels, row_values, _) in enumerate(members)]
