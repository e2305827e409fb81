"""LogQL metric queries: counts and rates of matching log lines, values unwrapped from them, and
aggregations of them.

The subset Loki users count and rank with::

    metric      = aggregation | range_agg | "(" metric ")"
    aggregation = op [grouping] "(" [number ","] metric ")" [grouping]
    op          = "sum" | "count" | "min" | "max" | "avg" | "topk" | "bottomk"   (a number only for topk/bottomk)
    range_agg   = ("count_over_time" | "rate") "(" log_query "[" duration "]" ")"
                | unwrapped "(" [quantile ","] log_query "| unwrap" label "[" duration "]" ")" [grouping]
    unwrapped   = "rate" | "sum_over_time" | "avg_over_time" | "max_over_time" | "min_over_time"
                | "first_over_time" | "last_over_time" | "stddev_over_time" | "stdvar_over_time"
                | "quantile_over_time"                     (a quantile only for quantile_over_time)
    grouping    = ("by" | "without") "(" [label {"," label}] ")"

``log_query`` is the log query of :mod:`.logql_syntax`; a series is one stream (a combination of
the stream labels service, level, host, logger, as Loki's streams are one label set), or with
parser stages every label set the lines end with, extracted labels included, so they group.  As in
Loki (and Prometheus), a range aggregation's window at time ``t`` is ``(t - d, t]`` (lines in whole
microseconds): ``count_over_time`` counts a series' lines in it, ``rate`` divides that by the
window's seconds (unwrapped: the sum of the values), the ``*_over_time`` functions reduce the
unwrapped values (population variance; quantiles interpolated as Prometheus's), and a series with no
line in a window has no value there.  A line still marked ``__error__`` fails the query, as in Loki.
Aggregations group by the listed labels (``by``) or by all but them (``without``); ``topk``/``bottomk``
keep the ``k`` largest (smallest) series of each group at each step.  Refused by name: ``REFUSED``.
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass

import numpy as np

from observability_ui.query import budget, logql_pipeline
from observability_ui.query.logql import piped, register_functions, where_clause
from observability_ui.query.logql_syntax import STREAM_LABELS, LogQuery, LogQueryError
from observability_ui.query.logql_syntax import parse as parse_log_query
from observability_ui.query.promql_model import Series, label_key, mask_strings

LOG_RANGE_FUNCTIONS = ("count_over_time", "rate")
UNWRAPPED_FUNCTIONS = (
    "rate",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
)
RANGE_FUNCTIONS = tuple(dict.fromkeys((*LOG_RANGE_FUNCTIONS, *UNWRAPPED_FUNCTIONS)))
AGGREGATIONS = ("sum", "count", "min", "max", "avg", "topk", "bottomk")
# Loki's, refused by name: byte counts, absence, counters, and the rest of its vector functions.
REFUSED = (
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
    "rate_counter",
    "stddev",
    "stdvar",
    "sort",
    "sort_desc",
    "label_replace",
    "vector",
    "approx_topk",
)
MAX_STEPS = 11_000
# Loki's max_query_series default: a result of more series is refused, not listed.
MAX_SERIES = 500
# series times steps a range aggregation may evaluate (PromQL's MAX_QUERY_POINTS), and series it may
# hold at all: extracted labels can make every line its own series (a trace id), which memory would
# not hold, at every step or even once per line; refused as soon as the scan finds one too many
MAX_POINTS = 5_000_000
MAX_RANGE_SERIES = 20_000
_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*")
_GROUPING = re.compile(r"\s*(by|without)\s*\(\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)?\s*\)\s*")
_PARAMETER = re.compile(r"\s*([0-9]+)\s*,")
_QUANTILE = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*,")
_DURATION = re.compile(r"\[\s*([0-9]+)(ms|s|m|h|d)\s*\]\s*\)\s*")
_BINARY = re.compile(r"(==|!=|>=|<=|[-+*/%^<>]|and\b|or\b|unless\b)")
_OFFSET = re.compile(r"\[\s*[0-9]+[a-z]+\s*\]\s*offset\b")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class RangeAggregation:
    """A range function of a log query over windows of ``range_ms``: of its lines, or of the values
    it unwraps (``query.unwrap``), those grouped (``labels``, ``by``) when ``grouped``."""

    function: str
    query: LogQuery
    range_ms: int
    quantile: float = 0.0
    labels: tuple[str, ...] = ()
    by: bool = True
    grouped: bool = False


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
    """Whether ``text`` starts as a metric query does (a function or aggregation, those refused by
    name included, so that the refusal names them), not a selector."""
    match = _NAME.match(mask_strings(text)[0])
    return match is not None and match.group(1) in (*RANGE_FUNCTIONS, *AGGREGATIONS, *REFUSED)


def parse(text: str) -> MetricQuery:
    """A metric query, or a :class:`LogQueryError` at the offset of what cannot be read."""
    masked = mask_strings(text)[0]
    query, end = _Reader(text, masked).metric(0)
    rest = masked[end:].strip()
    if operator := _BINARY.match(rest):
        raise LogQueryError(
            f"binary operations on metric queries ({operator.group(1)}) are not supported",
            len(masked) - len(masked[end:].lstrip()),
        )
    if rest:
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
        if match is not None and match.group(1) in REFUSED:
            raise LogQueryError(f"{match.group(1)} is not supported in this LogQL subset", stripped)
        if match is None or match.group(1) not in (*RANGE_FUNCTIONS, *AGGREGATIONS):
            found = match.group(1) if match else self.masked[at:].strip()[:1] or "the end"
            raise LogQueryError(
                f"expected a range function ({', '.join(RANGE_FUNCTIONS)}) or an aggregation "
                f"({', '.join(AGGREGATIONS)}), found {found!r}",
                stripped,
            )
        name = match.group(1)
        if name in RANGE_FUNCTIONS:
            return self.range_aggregation(name, self._expect("(", match.end()))
        return self.aggregation(name, match.end())

    def range_aggregation(self, function: str, at: int) -> tuple[RangeAggregation, int]:
        quantile = 0.0
        if function == "quantile_over_time":
            parameter = _QUANTILE.match(self.masked, at)
            if parameter is None:
                raise LogQueryError(
                    "quantile_over_time needs a quantile first, like quantile_over_time(0.99, ...)", at
                )
            quantile, at = float(parameter.group(1)), parameter.end()
        duration = None
        for candidate in _DURATION.finditer(self.masked, at):
            duration = candidate  # the log query may hold brackets only inside strings: masked
            break
        if duration is None and (offset := _OFFSET.search(self.masked, at)):
            raise LogQueryError("offset is not supported", offset.start())
        if duration is None:
            raise LogQueryError(
                f'{function}() needs a log query and a range, like {function}({{level="error"}}[1m])', at
            )
        inner = self.text[at : duration.start()]
        try:
            query = parse_log_query(inner, unwrap=True)
        except LogQueryError as error:
            raise LogQueryError(
                error.message, None if error.position is None else at + error.position
            ) from None
        if query.unwrap is None and function not in LOG_RANGE_FUNCTIONS:
            raise LogQueryError(f"{function} needs a value: add | unwrap <label> before the range", at)
        if query.unwrap is not None and function not in UNWRAPPED_FUNCTIONS:
            raise LogQueryError(f"{function} counts lines: it takes no unwrap", at)
        range_ms = int(duration.group(1)) * _UNIT_MS[duration.group(2)]
        if range_ms <= 0:
            raise LogQueryError("the range must be longer than zero", duration.start())
        end = duration.end()
        grouping = _GROUPING.match(self.masked, end)
        if grouping and query.unwrap is None:
            raise LogQueryError(
                f"by/without after {function}() groups unwrapped values only: aggregate with sum by (...)",
                grouping.start(),
            )
        labels = tuple(re.split(r"\s*,\s*", grouping.group(2))) if grouping and grouping.group(2) else ()
        return RangeAggregation(
            function,
            query,
            range_ms,
            quantile,
            labels,
            by=grouping is None or grouping.group(1) == "by",
            grouped=grouping is not None,
        ), grouping.end() if grouping else end

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
    if sum(1 for _, _, present in rows if present.any()) > MAX_SERIES:
        raise LogQueryError(
            f"maximum number of series ({MAX_SERIES}) reached for a single query: aggregate with sum by (...)"
        )
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


def _evaluate(
    db: sqlite3.Connection, query: MetricQuery, steps: np.ndarray, keep: frozenset[str] | None = None
) -> Rows:
    """``keep``: the labels an enclosing ``sum by`` keeps (None: all), the only ones parsers need to
    extract below it, since a sum does not depend on how its members split into series."""
    if isinstance(query, RangeAggregation):
        return _range_aggregation(db, query, steps, keep)
    summed = query.op == "sum" and query.by
    return _aggregate(query, _evaluate(db, query.operand, steps, frozenset(query.labels) if summed else None))


def _samples(
    db: sqlite3.Connection,
    query: RangeAggregation,
    low: float,
    high: float,
    keep: frozenset[str] | None,
    steps: int,
) -> dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float]]]:
    """Each series' line times and values (1 per line unless unwrapped), oldest first.

    A series is a stream, or with a pipeline every label set its lines end with (the extracted labels
    included), grouped as the range aggregation says; a line still carrying ``__error__`` fails
    the query, as in Loki."""
    series: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float]]] = {}

    def add(labels: dict[str, str], stamps: list[float], values: list[float]) -> None:
        if query.grouped:
            labels = {name: v for name, v in labels.items() if (name in query.labels) == query.by}
        key = label_key(labels)
        if key not in series:
            if len(series) + 1 > min(MAX_RANGE_SERIES, MAX_POINTS // steps):
                raise LogQueryError(
                    f"at least {len(series) + 1:,} series at {steps:,} steps is more than {MAX_RANGE_SERIES:,}"
                    f" series or {MAX_POINTS:,} points: aggregate with sum by (...) around the range"
                    " function, group it with by (...), or narrow the query"
                )
            series[key] = (labels, [], [])
        series[key][1].extend(stamps)
        series[key][2].extend(values)

    if not query.query.pipeline:  # the commonest case, kept to one tuple per row
        register_functions(db)
        where = where_clause(query.query, low, high)
        columns = ", ".join(STREAM_LABELS)
        rows = db.execute(f"SELECT ts, {columns} FROM logs WHERE {where.text} ORDER BY ts, id", where.params)
        times: dict[tuple[str, ...], list[float]] = {}
        for ts, *stream in budget.checked(rows, every=1024):
            times.setdefault(tuple(stream), []).append(ts)
        for stream, stamps in times.items():
            add(dict(zip(STREAM_LABELS, stream, strict=True)), stamps, [])
        return series
    for entry, line in piped(db, query.query, low, high, keep=keep):
        if logql_pipeline.ERROR in line.labels:
            raise LogQueryError(logql_pipeline.error_message(line))
        add(line.labels, [entry.ts], [] if line.value is None else [line.value])
    return series


def _range_aggregation(
    db: sqlite3.Connection, query: RangeAggregation, steps: np.ndarray, keep: frozenset[str] | None
) -> Rows:
    """The function over each series' lines in each window ``(t - range, t]``, from one scan."""
    # every line a window can hold: ``ts >= low AND ts < high`` takes them all, the windows cut exactly
    low, high = (int(steps[0]) - query.range_ms) / 1000, (int(steps[-1]) + 1) / 1000
    rows: Rows = []
    if query.grouped and query.by:
        keep = frozenset(query.labels)
    for labels, stamps, samples in _samples(db, query, low, high, keep, len(steps)).values():
        # in whole microseconds (Loki keeps nanoseconds; a float epoch second resolves a fraction of one)
        logged, ends = np.round(np.array(stamps) * 1e6).astype(np.int64), steps * 1000
        upper = np.searchsorted(logged, ends, side="right")
        lower = np.searchsorted(logged, ends - query.range_ms * 1000, side="right")
        counts = upper - lower
        if query.query.unwrap is None:
            values = (
                counts / (query.range_ms / 1000) if query.function == "rate" else counts.astype(np.float64)
            )
        else:
            values = _unwrapped(query, np.array(samples), lower, upper)
        rows.append((labels, values, counts > 0))
    return rows


def _quantile(q: float, values: np.ndarray) -> float:
    """Prometheus's (and Loki's) quantile: linear interpolation between the closest ranks."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = np.sort(values)
    rank = q * (len(ordered) - 1)
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    weight = rank - below
    return float(ordered[below] * (1 - weight) + ordered[above] * weight)


def _window_value(query: RangeAggregation, window: np.ndarray) -> float:
    function = query.function
    if function in ("sum_over_time", "rate"):
        total = math.fsum(window)
        return total / (query.range_ms / 1000) if function == "rate" else total
    if function == "avg_over_time":
        return math.fsum(window) / len(window)
    if function in ("stddev_over_time", "stdvar_over_time"):
        mean = math.fsum(window) / len(window)
        variance = math.fsum((window - mean) ** 2) / len(window)
        return math.sqrt(variance) if function == "stddev_over_time" else variance
    if function == "quantile_over_time":
        return _quantile(query.quantile, window)
    return float(
        {
            "max_over_time": np.max,
            "min_over_time": np.min,
            "first_over_time": lambda w: w[0],
            "last_over_time": lambda w: w[-1],
        }[function](window)
    )


def _unwrapped(
    query: RangeAggregation, samples: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """The unwrapped function over each step's window (``samples[lower:upper]``, oldest first)."""
    values = np.zeros(len(lower))
    for index in budget.checked(range(len(lower)), every=16):  # a window may hold every line
        if upper[index] > lower[index]:
            values[index] = _window_value(query, samples[lower[index] : upper[index]])
    return values


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
