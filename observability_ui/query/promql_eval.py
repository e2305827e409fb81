"""Evaluation of a parsed PromQL expression over a grid of timestamps.

Each node is evaluated once for all steps (a range query is not a loop of instant queries), which keeps
the per-step work to list operations on values already in memory.  Label handling follows Prometheus 3:
functions, arithmetic, ``bool`` comparisons and aggregations drop ``__name__``; selectors, filtering
comparisons, set operators, sort, topk/bottomk and last_over_time keep it.  Constructs Prometheus 3
answers only behind a feature flag or for native histograms raise a :class:`QueryError` saying so,
positioned at the first occurrence of the construct in the query text (the parser reports no node
positions).
"""

from __future__ import annotations

import heapq
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

import numpy as np
import promql_parser

from observability_ui.query import budget
from observability_ui.query.promql_elementwise import CALENDAR, MATH, calendar_part, round_to
from observability_ui.query.promql_functions import (
    RANGE_FUNCTIONS,
    RangeKernel,
    Windows,
    bucket_fraction,
    bucket_quantiles,
    clamp,
    divide,
    instant,
    latest,
    latest_time,
    milliseconds,
    predict_linear,
    quantile_over_time,
)
from observability_ui.query.promql_labels import (
    Relabel,
    absent_labels,
    check_label_name,
    label_joiner,
    label_replacer,
)
from observability_ui.query.promql_matching import (
    drop,
    grouped_match,
    keep,
    restrict,
    set_operation,
    signature,
)
from observability_ui.query.promql_model import (
    METRIC_NAME,
    LabelKey,
    QueryError,
    Row,
    Scalar,
    Steps,
    Value,
    Vector,
    label_key,
    locate,
    merge_rows,
    per_step,
    without_name,
)
from observability_ui.query.promql_reduce import (
    compensated_mean,
    compensated_sum,
    quantile,
    welford_variance,
)
from observability_ui.query.promql_store import MetricStore, Samples, SeriesMeta

LOOKBACK_DELTA = 300.0  # seconds an instant selector looks back for the latest sample, as in Prometheus
# Series times steps a query's selectors may evaluate, together, checked before any sample is read:
# the evaluator and the response hold about 140 bytes per point at the peak (every series of
# cron-storm at a 2 s step over its 3 hours, 6.2 million points: 880 MB, 7.8 s), so this bounds one
# query's memory near 700 MB, as Prometheus's --query.max-samples bounds its own.  Every series of a
# recording over 3 hours at the 15 s scrape step is under a million.
MAX_QUERY_POINTS = 5_000_000
BUCKET_LABEL = "le"

SUBQUERY_STEP = 60.0  # seconds between a subquery's evaluations when it names none: Prometheus's default
MAX_SUBQUERY_POINTS = 110_000  # evaluation times of a subquery's expression, all steps together
# Prometheus 3 evaluates these only behind --enable-feature=promql-experimental-functions.
EXPERIMENTAL = (
    "double_exponential_smoothing",
    "info",
    "limit_ratio",
    "limitk",
    "mad_over_time",
    "sort_by_label",
    "sort_by_label_desc",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
)
NATIVE_HISTOGRAM_FUNCTIONS = (
    "histogram_avg",
    "histogram_count",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
)
KEEPS_NAME = ("first_over_time", "last_over_time")  # range functions keeping __name__, as in Prometheus 3
ELEMENTWISE: dict[str, Callable[..., float]] = {
    "clamp_min": lambda value, low: clamp(value, low, math.inf),
    "clamp_max": lambda value, high: clamp(value, -math.inf, high),
    "clamp": clamp,
}
ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": divide,
    "%": lambda dividend, divisor: _numpy_float(np.fmod, dividend, divisor),
    "^": lambda base, exponent: _numpy_float(np.power, base, exponent),
    "atan2": math.atan2,
}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}
SET_OPERATORS = ("and", "or", "unless")

Operation = Callable[[float, float], float | None]
Arrays = list[tuple[dict[str, str], np.ndarray, np.ndarray]]  # labels, values, present: one per series
T = TypeVar("T")


class Evaluator:
    """Evaluates expressions of one query at the given steps against a :class:`MetricStore`."""

    def __init__(
        self, store: MetricStore, query: str, steps: list[float], bounds: tuple[float, float] | None = None
    ) -> None:
        self.store = store
        self.query = query
        self.steps = steps
        self.points = 0  # series x steps the selectors evaluated so far
        # What @ start() and @ end() mean: the query's first and last step, also inside a subquery.
        self.bounds = bounds or (steps[0], steps[-1])
        self._handlers: dict[type, Callable[[promql_parser.Expr], Value]] = {
            promql_parser.NumberLiteral: lambda node: float(node.val),
            promql_parser.ParenExpr: lambda node: self.evaluate(node.expr),
            promql_parser.UnaryExpr: self._negate,
            promql_parser.VectorSelector: self._instant,
            promql_parser.Call: self._call,
            promql_parser.AggregateExpr: self._aggregate,
            promql_parser.BinaryExpr: self._binary,
            promql_parser.StringLiteral: self._string_literal,
        }

    def evaluate(self, node: promql_parser.Expr) -> Value:
        """The node's value; each node first looks at the request's time budget."""
        budget.check()
        handler = self._handlers.get(type(node))
        if handler is not None:
            return handler(node)
        if isinstance(node, promql_parser.MatrixSelector):
            raise self._unsupported("a range vector outside a function such as rate()", r"\[")
        if isinstance(node, promql_parser.SubqueryExpr):
            raise self._unsupported("a subquery outside a function such as max_over_time()", r"\[[^\]]*:")
        raise self._unsupported(f"the expression {node.prettify()}", None)

    # -- operands ------------------------------------------------------------------------------------
    def _vector(self, node: promql_parser.Expr) -> Vector:
        value = self.evaluate(node)
        if not isinstance(value, list):
            raise QueryError(f"expected an instant vector, got the scalar {node.prettify()}")
        return value

    def _param(self, node: promql_parser.Expr) -> list[float]:
        """A scalar parameter's value at each step: a number, or one that changes with time
        (``scalar(x)``, ``time()``), as Prometheus evaluates parameters at every step."""
        value = self.evaluate(node)
        if isinstance(value, list):
            raise QueryError(f"expected a scalar, got the instant vector {node.prettify()}")
        return [number for number, _ in zip(per_step(value), self.steps, strict=False)]

    def _string_literal(self, node: promql_parser.StringLiteral) -> Value:
        raise self._unsupported("a string literal here", "[\"'`]")

    def _string(self, node: promql_parser.Expr) -> str:
        """A function's string parameter, in as many parentheses as the candidate likes."""
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if not isinstance(node, promql_parser.StringLiteral):
            raise QueryError(f"expected a string, got {node.prettify()}")
        return node.val

    def _refuse(self, name: str) -> None:
        """Refuse, by name, the functions and aggregations of Prometheus 3 this engine does not answer."""
        where = rf"\b{name}\s*(\(|by|without)"
        if name in EXPERIMENTAL:
            raise self._unsupported(
                f"{name}, experimental in Prometheus 3 (--enable-feature=promql-experimental-functions),",
                where,
            )
        if name in NATIVE_HISTOGRAM_FUNCTIONS:
            raise self._unsupported(
                f"{name}(), which reads native histograms (the dataset's histograms are classic: use"
                " histogram_quantile over the _bucket series),",
                where,
            )

    def _unsupported(self, what: str, pattern: str | None, advice: str = "") -> QueryError:
        message = f"{what} is not supported" + (f"; {advice}" if advice else "")
        return QueryError(message, locate(self.query, pattern) if pattern else None)

    # -- selectors and functions ---------------------------------------------------------------------
    def _matched(
        self, selector: promql_parser.VectorSelector
    ) -> tuple[list[SeriesMeta], list[Samples], np.ndarray]:
        """The series a selector matches, their samples, and the window ends (the evaluation times, or
        the ``@`` time, less the offset); the query's points so far are counted first, and refused
        over :data:`MAX_QUERY_POINTS`."""
        metas = self.store.select(selector, self.query)
        self.points += len(metas) * len(self.steps)
        if self.points > MAX_QUERY_POINTS:
            raise QueryError(
                f"the query would evaluate {self.points:,} points ({len(metas):,} series at "
                f"{len(self.steps):,} steps here); the limit is {MAX_QUERY_POINTS:,}: select fewer "
                "series with label matchers, or use a larger step or a shorter range"
            )
        return metas, self.store.arrays(metas), self._window_ends(selector)

    def _window_ends(self, node: promql_parser.VectorSelector | promql_parser.SubqueryExpr) -> np.ndarray:
        """Where a selector's or subquery's windows end at each step: ``@`` fixes the time for every
        step (``@ start()`` and ``@ end()`` are the query's first and last step), then the offset
        moves it back."""
        offset = node.offset.total_seconds() if node.offset else 0.0
        if node.at is None:
            times = np.array(self.steps)
        else:
            kind = node.at.type
            if kind == promql_parser.AtModifierType.Start:
                fixed = self.bounds[0]
            elif kind == promql_parser.AtModifierType.End:
                fixed = self.bounds[1]
            else:
                fixed = node.at.at.timestamp()
            times = np.full(len(self.steps), fixed)
        return times - offset

    def _series_arrays(
        self, selector: promql_parser.VectorSelector, span: float, kernel: RangeKernel
    ) -> Arrays:
        """``kernel`` applied to each matched series' samples in the ``span`` seconds before each step."""
        metas, samples, ends = self._matched(selector)
        return _windowed(metas, samples, ends, span, kernel)

    def _instant_arrays(self, selector: promql_parser.VectorSelector, pick: RangeKernel = latest) -> Arrays:
        """An instant selector: the newest sample in the lookback (its value, or what ``pick`` reads
        of it), none once the series is stale."""
        metas, samples, ends = self._matched(selector)
        kernel = instant(self.store.scrape_intervals(samples), self.store.last_scrape(), pick)
        return _windowed(metas, samples, ends, LOOKBACK_DELTA, kernel)

    def _range_arrays(self, node: promql_parser.Expr, kernel: RangeKernel) -> Arrays:
        """``kernel`` over a range vector: a matrix selector's samples, or a subquery's values."""
        if isinstance(node, promql_parser.MatrixSelector):
            return self._series_arrays(node.vector_selector, node.range.total_seconds(), kernel)
        return self._subquery_arrays(node, kernel)

    def _subquery_arrays(self, node: promql_parser.SubqueryExpr, kernel: RangeKernel) -> Arrays:
        """``kernel`` over a subquery ``expr[range:step]``: the expression is evaluated once at every
        multiple of ``step`` after the earliest window's start up to the latest window's end, as
        Prometheus's evalSubquery does, and each result series is a range vector's samples."""
        span = node.range.total_seconds()
        step = node.step.total_seconds() if node.step else SUBQUERY_STEP
        ends = self._window_ends(node)
        # in whole milliseconds, as Prometheus's evalSubquery: the first multiple of the step after
        # the earliest window's start, up to the latest window's end
        step_ms, ends_ms = max(round(step * 1000), 1), milliseconds(ends)
        first = (int(ends_ms.min()) - round(span * 1000)) // step_ms + 1
        last = int(ends_ms.max()) // step_ms
        if last - first + 1 > MAX_SUBQUERY_POINTS:
            raise QueryError(
                f"the subquery would evaluate its expression {last - first + 1:,} times (at most "
                f"{MAX_SUBQUERY_POINTS:,}): use a longer subquery step or a shorter range",
                locate(self.query, r"\[[^\]]*:"),
            )
        times = np.arange(first, last + 1) * step_ms / 1000
        if not len(times):
            return []
        inner = Evaluator(self.store, self.query, times.tolist(), self.bounds).evaluate(node.expr)
        rows = (
            inner
            if isinstance(inner, list)
            else [Row({}, [v for v, _ in zip(per_step(inner), times, strict=False)])]
        )
        series, labels = [], []
        for row in rows:
            present = np.array([value is not None for value in row.values])
            if present.any():
                values = np.array([0.0 if value is None else value for value in row.values])
                series.append((times[present], values[present]))
                labels.append(row.labels)
        values, present = kernel(Windows.of(series, ends, span))
        return [(labels[index], values[index], present[index]) for index in range(len(series))]

    def _instant(self, selector: promql_parser.VectorSelector) -> Vector:
        return _rows(self._instant_arrays(selector))

    def _operand_arrays(self, node: promql_parser.Expr) -> Arrays | None:
        """An aggregation's operand as arrays when it is a selector or a range function of one.

        That is what dashboards aggregate (``sum by (route) (rate(x[1m]))``) and where the series are
        many; anything else (or a range function whose series collide once ``__name__`` is dropped, an
        error the general path reports) returns None and takes the general path.
        """
        if isinstance(node, promql_parser.ParenExpr):
            return self._operand_arrays(node.expr)
        if isinstance(node, promql_parser.VectorSelector):
            return self._instant_arrays(node)
        if (
            isinstance(node, promql_parser.Call)
            and isinstance(node.args[0] if node.args else None, promql_parser.MatrixSelector)
            and (kernel := self._range_kernel(node)) is not None
        ):
            matrix = node.args[0]
            arrays = self._series_arrays(matrix.vector_selector, matrix.range.total_seconds(), kernel)
            if node.func.name in KEEPS_NAME:
                return arrays
            renamed = [(without_name(labels), values, present) for labels, values, present in arrays]
            if len({label_key(labels) for labels, _, _ in renamed}) == len(renamed):
                return renamed
        return None

    def _matrix(self, node: promql_parser.Call) -> promql_parser.MatrixSelector | promql_parser.SubqueryExpr:
        """A range function's range vector argument (a matrix selector or a subquery), out of any
        parentheses around it."""
        index = node.func.arg_types.index(promql_parser.ValueType.Matrix)
        matrix = node.args[index]
        while isinstance(matrix, promql_parser.ParenExpr):
            matrix = matrix.expr
        return matrix

    def _range_kernel(self, node: promql_parser.Call) -> RangeKernel | None:
        """The kernel of a function applied per series to a range vector; None for any other function."""
        name = node.func.name
        if name == "quantile_over_time":
            return quantile_over_time(np.array(self._param(node.args[0])))
        if name != "predict_linear":
            return RANGE_FUNCTIONS.get(name)
        matrix = self._matrix(node)
        inner = matrix.vector_selector if isinstance(matrix, promql_parser.MatrixSelector) else matrix
        # Prometheus predicts from the evaluation time, which an offset or @ moves from the window's end.
        ahead = np.array(self._param(node.args[1])) + (np.array(self.steps) - self._window_ends(inner))
        return predict_linear(ahead)

    def _call(self, node: promql_parser.Call) -> Value:
        name = node.func.name
        self._refuse(name)
        kernel = self._range_kernel(node)
        if kernel is not None:
            rows = _rows(self._range_arrays(self._matrix(node), kernel))
            return rows if name in KEEPS_NAME else _drop_names(rows)
        if name in MATH:
            return _drop_names(_map_arrays(self._vector(node.args[0]), MATH[name]))
        if name == "round":
            to_nearest = np.array(self._param(node.args[1])) if len(node.args) > 1 else 1.0
            return _drop_names(_map_arrays(self._vector(node.args[0]), round_to(to_nearest)))
        if name in CALENDAR:
            if not node.args:  # of the evaluation time
                return [Row({}, calendar_part(name)(np.array(self.steps)).tolist())]
            return _drop_names(_map_arrays(self._vector(node.args[0]), calendar_part(name)))
        if name in ELEMENTWISE:
            return self._elementwise(
                name, self._vector(node.args[0]), [self._param(a) for a in node.args[1:]]
            )
        if name == "histogram_quantile":
            return self._histogram_quantile(self._param(node.args[0]), self._vector(node.args[1]))
        if name == "histogram_fraction":
            lowers, uppers = self._param(node.args[0]), self._param(node.args[1])
            return self._histogram_fraction(lowers, uppers, self._vector(node.args[2]))
        if name == "absent":
            return self._absent(node, self._vector(node.args[0]))
        if name == "absent_over_time":
            return self._absent(node, _rows(self._range_arrays(self._matrix(node), latest)))
        if name == "label_replace":
            strings = [self._string(argument) for argument in node.args[1:]]
            return _relabel(self._vector(node.args[0]), label_replacer(*strings))
        if name == "label_join":
            strings = [self._string(argument) for argument in node.args[1:]]
            return _relabel(self._vector(node.args[0]), label_joiner(strings[0], strings[1], strings[2:]))
        if name == "timestamp":
            return self._timestamp(node.args[0])
        if name in ("sort", "sort_desc"):
            return _sorted_by_value(self._vector(node.args[0]), descending=name == "sort_desc")
        if name == "scalar":
            return _to_scalar(self._vector(node.args[0]), len(self.steps))
        if name == "vector":
            scalar = self.evaluate(node.args[0])
            return [Row({}, [value for value, _ in zip(per_step(scalar), self.steps, strict=False)])]
        if name == "pi":
            return math.pi
        if name == "time":
            return Steps(tuple(self.steps))
        raise self._unsupported(f"the function {name}()", rf"\b{name}\s*\(")

    def _timestamp(self, argument: promql_parser.Expr) -> Vector:
        """timestamp(v): a selector's sample times (Prometheus special-cases a bare selector); for
        anything else, computed at the evaluation time, the evaluation time."""
        if isinstance(argument, promql_parser.VectorSelector):
            return _drop_names(_rows(self._instant_arrays(argument, latest_time)))
        rows = self._vector(argument)
        return _drop_names(
            [
                Row(
                    row.labels,
                    [None if v is None else t for v, t in zip(row.values, self.steps, strict=True)],
                )
                for row in rows
            ]
        )

    def _elementwise(self, name: str, rows: Vector, params: list[list[float]]) -> Vector:
        """clamp_min, clamp_max and clamp of each value, with the bounds of its step; clamp with its
        bounds crossed gives nothing at that step, as in Prometheus."""
        function = ELEMENTWISE[name]
        per_step_bounds = list(zip(*params, strict=True))
        open_at = [not (name == "clamp" and bounds[1] < bounds[0]) for bounds in per_step_bounds]

        def clamped(values: list[float | None]) -> list[float | None]:
            return [
                function(value, *bounds) if value is not None and usable else None
                for value, bounds, usable in zip(values, per_step_bounds, open_at, strict=True)
            ]

        return _drop_names([Row(row.labels, clamped(row.values)) for row in rows])

    def _absent(self, node: promql_parser.Call, rows: Vector) -> Vector:
        """absent and absent_over_time: 1 at each step where the argument has no series at all,
        labelled from the argument's equality matchers."""
        steps = budget.checked(range(len(self.steps)), every=budget.CHECK_EVERY)
        empty = [all(row.values[step] is None for row in rows) for step in steps]
        return [Row(absent_labels(node.args[0]), [1.0 if none else None for none in empty])]

    def _histogram_quantile(self, qs: list[float], rows: Vector) -> Vector:
        """Classic-histogram quantiles (``qs`` at each step).  Steps are computed together per set of
        buckets present and quantile."""
        by_step = np.array(qs)
        result = []
        for labels, bounds, present, counts in budget.checked(_classic_histograms(rows)):
            values = np.zeros(len(self.steps))
            for pattern in {tuple(column) for column in present.T.tolist()}:
                if not any(pattern):
                    continue
                used = np.flatnonzero(pattern)
                matching = (pattern == present.T).all(axis=1)
                for q in set(by_step[matching].tolist()):
                    steps = np.flatnonzero(matching & ((by_step == q) | (np.isnan(by_step) & math.isnan(q))))
                    values[steps] = bucket_quantiles(q, bounds[used], counts[np.ix_(used, steps)])
            result.append(Row(labels, _optional(values, present.any(axis=0))))
        return result

    def _histogram_fraction(self, lowers: list[float], uppers: list[float], rows: Vector) -> Vector:
        """histogram_fraction over classic histograms: per histogram and step, over the buckets present."""
        result = []
        for labels, bounds, present, counts in _classic_histograms(rows):
            values = np.zeros(len(self.steps))
            for step in np.flatnonzero(present.any(axis=0)).tolist():
                used = present[:, step]
                values[step] = bucket_fraction(
                    lowers[step], uppers[step], bounds[used].tolist(), counts[used, step].tolist()
                )
            result.append(Row(labels, _optional(values, present.any(axis=0))))
        return result

    # -- aggregation ---------------------------------------------------------------------------------
    def _aggregate(self, node: promql_parser.AggregateExpr) -> Vector:
        """Aggregations are memoised per store and steps: dashboards ask for the same one repeatedly
        (p50, p95 and p99 of one histogram aggregate the same buckets)."""
        key = (str(node), self.steps[0], self.steps[-1], len(self.steps), self.bounds)
        if key not in self.store.memo:
            self.store.memo[key] = self._aggregate_once(node)
        return self.store.memo[key]

    def _aggregate_once(self, node: promql_parser.AggregateExpr) -> Vector:
        op = str(node.op)
        self._refuse(op)
        if op == "count_values":
            label = check_label_name(self._string(node.param), "count_values")
            return _count_values(self._vector(node.expr), label, node.modifier)
        relabel = _grouping(node.modifier)
        if op in ("topk", "bottomk"):
            groups = _group(self._vector(node.expr), lambda row: relabel(row.labels))
            return _select_k(groups, self._param(node.param), largest=op == "topk")
        q = self._param(node.param) if op == "quantile" else []
        arrays = self._operand_arrays(node.expr)
        if arrays is None:
            arrays = _arrays(self._vector(node.expr))
        return _aggregate_arrays(op, _group(arrays, lambda item: relabel(item[0])), q)

    # -- operators -----------------------------------------------------------------------------------
    def _negate(self, node: promql_parser.UnaryExpr) -> Value:
        operand = self.evaluate(node.expr)
        if isinstance(operand, float):
            return -operand
        if isinstance(operand, Steps):
            return Steps(tuple(-value for value in operand.values))
        return _drop_names(_map_values(operand, operator.neg))

    def _binary(self, node: promql_parser.BinaryExpr) -> Value:
        op = str(node.op)
        if op not in ARITHMETIC and op not in COMPARISONS and op not in SET_OPERATORS:
            raise self._unsupported(f"the operator '{op}'", re.escape(op))
        modifier = node.modifier
        fill = modifier.fill_values if modifier is not None else None
        if fill is not None and (fill.lhs is not None or fill.rhs is not None):
            raise self._unsupported("the experimental fill modifiers", r"\bfill")
        return_bool = modifier is not None and modifier.return_bool
        lhs, rhs = self.evaluate(node.lhs), self.evaluate(node.rhs)
        matching = modifier.matching if modifier else None
        if op in SET_OPERATORS:  # the parser lets only vectors have them
            return set_operation(op, _as_vector(lhs), _as_vector(rhs), matching)
        if not isinstance(lhs, list) and not isinstance(rhs, list):
            return _scalars(op, lhs, rhs)
        if isinstance(lhs, list) and isinstance(rhs, list):
            if modifier is not None and modifier.card != promql_parser.VectorMatchCardinality.OneToOne:
                operation = _operation(op, return_bool, keep_right=False)
                return grouped_match(operation, lhs, rhs, modifier, op in ARITHMETIC or return_bool)
            return _match(op, lhs, rhs, matching, return_bool)
        if isinstance(lhs, list):
            operation = _operation(op, return_bool, keep_right=False)
            rows = [
                Row(row.labels, _combine(operation, row.values, per_step(rhs))) for row in budget.checked(lhs)
            ]
        else:
            operation = _operation(op, return_bool, keep_right=True)
            rows = [
                Row(row.labels, _combine(operation, per_step(lhs), row.values)) for row in budget.checked(rhs)
            ]
        return _drop_names(rows) if op in ARITHMETIC or return_bool else rows


def _scalars(op: str, lhs: Scalar, rhs: Scalar) -> Scalar:
    """A binary operation between scalars: a constant when both are, else one value per step."""
    if isinstance(lhs, float) and isinstance(rhs, float):
        return _apply(op, lhs, rhs)
    return Steps(
        tuple(_apply(op, left, right) for left, right in zip(per_step(lhs), per_step(rhs), strict=False))
    )


def _apply(op: str, left: float, right: float) -> float:
    """Arithmetic, or a comparison as 1.0/0.0 (the ``bool`` form)."""
    if op in ARITHMETIC:
        return ARITHMETIC[op](left, right)
    return float(COMPARISONS[op](left, right))


def _operation(op: str, return_bool: bool, keep_right: bool) -> Operation:
    """What a binary operator does to a pair of vector elements; a failed filter comparison yields None.

    A filtering comparison keeps the vector side's value: the left one, or the right one when a scalar is
    on the left (``1 < x``).
    """
    if op in ARITHMETIC or return_bool:
        return lambda left, right: _apply(op, left, right)
    compare = COMPARISONS[op]
    if keep_right:
        return lambda left, right: right if compare(left, right) else None
    return lambda left, right: left if compare(left, right) else None


def _combine(
    operation: Operation, left: Iterable[float | None], right: Iterable[float | None]
) -> list[float | None]:
    return [None if a is None or b is None else operation(a, b) for a, b in zip(left, right, strict=False)]


def _match(
    op: str, lhs: Vector, rhs: Vector, matching: promql_parser.LabelModifier | None, return_bool: bool
) -> Vector:
    """One-to-one vector matching on all labels but ``__name__``, or on/ignoring the listed ones."""
    right = merge_rows(
        ((signature(row.labels, matching), row) for row in rhs),
        "many-to-many matching not allowed: found duplicate series on the right-hand side of the operation",
    )
    operation = _operation(op, return_bool, keep_right=False)
    drop_name = op in ARITHMETIC or return_bool
    results = []
    for row in budget.checked(lhs):
        partner = right.get(signature(row.labels, matching))
        if partner is None:
            continue
        labels = restrict(without_name(row.labels) if drop_name else row.labels, matching)
        results.append((label_key(labels), Row(labels, _combine(operation, row.values, partner.values))))
    collision = "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    return list(merge_rows(results, collision).values())


def _as_vector(value: Value) -> Vector:
    """A set operator's operand, which the parser has checked is an instant vector."""
    assert isinstance(value, list)
    return value


def _numpy_float(function: Callable[[np.float64, float], np.float64], left: float, right: float) -> float:
    """``%`` and ``^`` as Go's math.Mod and math.Pow: IEEE results (NaN, ±Inf) where Python raises."""
    with np.errstate(all="ignore"):
        return float(function(np.float64(left), right))


# -- label helpers ------------------------------------------------------------------------------------
def _drop_names(rows: Vector) -> Vector:
    """Drop ``__name__`` (what functions and arithmetic do to their result)."""
    return _relabel(rows, without_name)


def _relabel(rows: Vector, relabel: Relabel) -> Vector:
    """Rows with new labels; series that then look alike must not both have a value at one step."""
    renamed = (
        (label_key(labels), Row(labels, row.values)) for row in rows for labels in [relabel(row.labels)]
    )
    return list(merge_rows(renamed, "vector cannot contain metrics with the same labelset").values())


def _grouping(modifier: promql_parser.AggModifier | None) -> Relabel:
    """The output labels of an aggregation group: ``by`` keeps the listed labels, ``without`` drops them."""
    if modifier is None:
        return lambda labels: {}
    names = set(modifier.labels)
    if modifier.type == promql_parser.AggModifierType.By:
        return lambda labels: keep(labels, names)
    return lambda labels: drop(labels, {*names, METRIC_NAME})


def _group(
    items: Iterable[T], labels_of: Callable[[T], dict[str, str]]
) -> list[tuple[dict[str, str], list[T]]]:
    """Items grouped by the label set ``labels_of`` gives them, in order of first appearance."""
    groups: dict[LabelKey, tuple[dict[str, str], list[T]]] = {}
    for item in items:
        labels = labels_of(item)
        groups.setdefault(label_key(labels), (labels, []))[1].append(item)
    return list(groups.values())


def _map_arrays(rows: Vector, function: Callable[[np.ndarray], np.ndarray]) -> Vector:
    """``function`` applied to each row's values at once (a numpy ufunc: IEEE results, no raising)."""
    result = []
    for labels, values, present in _arrays(rows):
        with np.errstate(all="ignore"):
            result.append(Row(labels, _optional(function(values), present)))
    return result


def _sorted_by_value(rows: Vector, descending: bool) -> Vector:
    """sort/sort_desc: rows by their value at the last step (an instant query's only one), NaN and
    no value last either way; only an instant query's result keeps this order."""

    def key(row: Row) -> tuple[int, float]:
        value = row.values[-1] if row.values else None
        if value is None or math.isnan(value):
            return (1, 0.0)
        return (0, -value if descending else value)

    return sorted(rows, key=key)


def _to_scalar(rows: Vector, steps: int) -> Steps:
    """scalar(v): at each step the value of the only element, NaN when there are none or several."""
    values = []
    for step in range(steps):
        present = [row.values[step] for row in rows if row.values[step] is not None]
        values.append(present[0] if len(present) == 1 else math.nan)
    return Steps(tuple(values))


def _count_values(rows: Vector, label: str, modifier: promql_parser.AggModifier | None) -> Vector:
    """count_values("label", v): per group and step, how many elements have each value, the value
    written into ``label`` as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it."""
    by = modifier is None or modifier.type == promql_parser.AggModifierType.By
    names = set(modifier.labels) if modifier else set()
    counts: dict[LabelKey, tuple[dict[str, str], list[float | None]]] = {}
    for row in rows:
        for step, value in enumerate(row.values):
            if value is None:
                continue
            labelled = {**row.labels, label: _go_float_text(value)}
            group = keep(labelled, {*names, label}) if by else drop(labelled, {*names, METRIC_NAME})
            entry = counts.setdefault(label_key(group), (group, [None] * len(row.values)))[1]
            entry[step] = (entry[step] or 0.0) + 1.0
    return [Row(labels, values) for labels, values in counts.values()]


def _go_float_text(value: float) -> str:
    """A float as Go's FormatFloat(value, 'f', -1, 64): the shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(Decimal(repr(value)).normalize(), "f")


def _map_values(rows: Vector, function: Callable[[float], float]) -> Vector:
    return [
        Row(row.labels, [None if value is None else function(value) for value in row.values])
        for row in budget.checked(rows)
    ]


# -- per-step reductions ------------------------------------------------------------------------------
def _windowed(
    metas: list[SeriesMeta], samples: list[Samples], ends: np.ndarray, span: float, kernel: RangeKernel
) -> Arrays:
    values, present = kernel(Windows.of([(s.timestamps, s.values) for s in samples], ends, span))
    return [(meta.labels, values[index], present[index]) for index, meta in enumerate(metas)]


def _rows(arrays: Arrays) -> Vector:
    return [Row(labels, _optional(values, present)) for labels, values, present in budget.checked(arrays)]


def _optional(values: np.ndarray, present: np.ndarray) -> list[float | None]:
    """Kernel output as a row's values: None where a step has no value."""
    if present.all():
        return values.tolist()
    return [value if has else None for value, has in zip(values.tolist(), present.tolist(), strict=True)]


def _arrays(rows: Vector) -> Arrays:
    """Rows as arrays: values (0 where absent) and whether each step has one."""
    return [
        (
            row.labels,
            np.array([0.0 if value is None else value for value in row.values], dtype=np.float64),
            np.array([value is not None for value in row.values], dtype=bool),
        )
        for row in rows
    ]


def _aggregate_arrays(op: str, groups: list[tuple[dict[str, str], Arrays]], qs: list[float]) -> Vector:
    """An aggregation of each group at every step at once, over the members present at a step.

    Members are taken in order, one numpy operation each: sums and means are compensated as in
    Prometheus; min and max ignore NaN unless every present member is NaN; quantile is computed per
    step, over the values present there, with that step's ``qs``.
    """
    if op in _RUNNING and _pads_little(groups):
        return _running_together(op, groups)
    rows = []
    for labels, members in groups:
        values = np.stack([member[1] for member in members])
        present = np.stack([member[2] for member in members])
        counts = present.sum(axis=0)
        if op in _RUNNING:
            result = _running(op, zip(values, present, strict=True), counts.shape)
        elif op in ("count", "group"):
            result = counts.astype(np.float64) if op == "count" else np.ones(len(counts))
        elif op == "quantile":
            columns = zip(qs, values.T, present.T, strict=True)
            result = np.array([quantile(q, column[mask].tolist()) for q, column, mask in columns])
        else:
            pick = np.fmax if op == "max" else np.fmin
            result = pick.reduce(np.where(present, values, np.nan), axis=0)
        rows.append(Row(labels, _optional(result, counts > 0)))
    return rows


#: aggregations that fold a group's members in order, cell by cell (the running reductions)
_RUNNING = ("sum", "avg", "stddev", "stdvar")
#: how much padding :func:`_running_together` accepts: cells folded per cell holding a member
PADDING_AT_MOST = 4


def _running(op: str, terms: Iterable[tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...]) -> np.ndarray:
    """One of :data:`_RUNNING` over ``terms`` (each member's values and presence, shaped ``shape``)."""
    if op == "sum":
        return compensated_sum(terms, shape)[0]
    if op == "avg":
        return compensated_mean(terms, shape)[0]
    variance = welford_variance(terms, shape)[0]
    return np.sqrt(variance) if op == "stddev" else variance


def _pads_little(groups: list[tuple[dict[str, str], Arrays]]) -> bool:
    """Whether :func:`_running_together` would fold at most :data:`PADDING_AT_MOST` cells per cell
    holding a member: groups of very different sizes pad more than they save."""
    members = [len(group) for _, group in groups]
    return bool(members) and max(members) * len(members) <= PADDING_AT_MOST * sum(members)


def _running_together(op: str, groups: list[tuple[dict[str, str], Arrays]]) -> Vector:
    """Every group's running reduction at once: member ``k`` of every group is folded in one numpy
    operation, so the Python loop runs as many times as the largest group has members, not as many
    as there are members in all (``sum by (le)`` over a histogram: 15 groups of 20).  A group with
    fewer members is padded with absent values, which leave a cell as it was: each cell sees the
    same operations in the same order as alone, so the results are the same to the bit."""
    depth, steps = max(len(members) for _, members in groups), len(groups[0][1][0][1])
    values = np.zeros((depth, len(groups), steps))
    present = np.zeros((depth, len(groups), steps), dtype=bool)
    for column, (_, members) in enumerate(groups):
        for index, member in enumerate(members):
            values[index, column], present[index, column] = member[1], member[2]
    result = _running(op, zip(values, present, strict=True), (len(groups), steps))
    counted = present.any(axis=0)
    return [Row(labels, _optional(result[index], counted[index])) for index, (labels, _) in enumerate(groups)]


def _select_k(groups: list[tuple[dict[str, str], Vector]], ks: list[float], largest: bool) -> Vector:
    """topk/bottomk: per group and step, the k (of that step) extreme elements keep their value and
    labels; a k below 1 selects nothing.

    Each group's rows come out in Prometheus's order for an instant query: by value at the last step,
    largest first for topk, smallest first for bottomk."""
    if any(math.isnan(k) for k in ks):
        raise QueryError("the parameter of topk/bottomk must be a number, got NaN")
    if max(ks) < 1:
        return []
    result = []
    for _, members in groups:
        picked: list[list[float | None]] = [[None] * len(row.values) for row in members]
        columns = zip(*(row.values for row in members), strict=True)
        for step, column in enumerate(budget.checked(columns, every=budget.CHECK_EVERY)):
            limit = int(min(ks[step], len(members)))
            present = [index for index, value in enumerate(column) if value is not None]
            for index in _extremes(max(limit, 0), present, column, largest):
                picked[index][step] = column[index]
        chosen = [Row(row.labels, values) for row, values in zip(members, picked, strict=True)]
        result.extend(_sorted_by_value(chosen, descending=largest))
    return result


def _extremes(limit: int, indexes: list[int], column: Sequence[float | None], largest: bool) -> list[int]:
    """The ``limit`` indexes with the largest (or smallest) values; NaN always ranks last."""
    if largest:
        return heapq.nlargest(limit, indexes, key=lambda i: (not math.isnan(column[i]), column[i]))
    return heapq.nsmallest(limit, indexes, key=lambda i: (math.isnan(column[i]), column[i]))


def _classic_histograms(rows: Vector) -> list[tuple[dict[str, str], np.ndarray, np.ndarray, np.ndarray]]:
    """The classic histograms among ``rows``: buckets grouped by their labels other than ``le`` (and
    ``__name__``), each as its labels, its bounds in ascending order, and per bucket and step whether
    it has a value and its cumulative count.  Series without a numeric ``le`` are ignored, as
    Prometheus does."""
    buckets = [(bound, row) for row in rows if (bound := _upper_bound(row.labels)) is not None]
    histograms = []
    for labels, members in _group(
        buckets, lambda bucket: drop(bucket[1].labels, {BUCKET_LABEL, METRIC_NAME})
    ):
        members.sort(key=lambda bucket: bucket[0])
        bounds = np.array([bound for bound, _ in members])
        present = np.array([[value is not None for value in row.values] for _, row in members])
        counts = np.array([[value or 0.0 for value in row.values] for _, row in members], dtype=np.float64)
        histograms.append((labels, bounds, present, counts))
    return histograms


def _upper_bound(labels: dict[str, str]) -> float | None:
    try:
        return float(labels[BUCKET_LABEL])
    except (KeyError, ValueError):
        return None
