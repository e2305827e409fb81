"""Evaluation of a parsed PromQL expression over a grid of timestamps.

Each node is evaluated once for all steps (a range query is not a loop of instant queries), which keeps
the per-step work to list operations on values already in memory.  Label handling follows Prometheus 3:
functions, arithmetic, ``bool`` comparisons and aggregations drop ``__name__``; selectors, filtering
comparisons and topk/bottomk keep it.  Constructs outside the supported subset raise a :class:`QueryError`
saying so, positioned at the first occurrence of the construct in the query text (the parser reports no
node positions).
"""

from __future__ import annotations

import heapq
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
import promql_parser

from observability_ui.query import budget
from observability_ui.query.promql_functions import (
    RANGE_FUNCTIONS,
    RangeKernel,
    Reducer,
    Windows,
    bucket_quantiles,
    clamp,
    count,
    divide,
    instant,
    latest,
    mean,
    nan_aware,
    predict_linear,
)
from observability_ui.query.promql_labels import Relabel, absent_labels, label_replacer
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
from observability_ui.query.promql_store import MetricStore, Samples, SeriesMeta

LOOKBACK_DELTA = 300.0  # seconds an instant selector looks back for the latest sample, as in Prometheus
# Series times steps a query's selectors may evaluate, together, checked before any sample is read:
# the evaluator and the response hold about 140 bytes per point at the peak (every series of
# cron-storm at a 2 s step over its 3 hours, 6.2 million points: 880 MB, 7.8 s), so this bounds one
# query's memory near 700 MB, as Prometheus's --query.max-samples bounds its own.  Every series of a
# recording over 3 hours at the 15 s scrape step is under a million.
MAX_QUERY_POINTS = 5_000_000
BUCKET_LABEL = "le"

AGGREGATORS: dict[str, Reducer] = {
    "sum": sum,
    "avg": mean,
    "max": nan_aware(max),
    "min": nan_aware(min),
    "count": count,
}
ELEMENTWISE: dict[str, Callable[..., float]] = {
    "abs": abs,
    "clamp_min": lambda value, low: clamp(value, low, math.inf),
    "clamp_max": lambda value, high: clamp(value, -math.inf, high),
    "clamp": clamp,
}
ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": divide,
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
# What to do instead of group_left/group_right, which the subset lacks: said wherever they come up.
ONE_TO_ONE_ADVICE = (
    "aggregate the side with more series by the matching labels first (sum by (...) or max by (...)),"
    " so that each series has one partner"
)

Operation = Callable[[float, float], float | None]
Arrays = list[tuple[dict[str, str], np.ndarray, np.ndarray]]  # labels, values, present: one per series
T = TypeVar("T")


class Evaluator:
    """Evaluates expressions of one query at the given steps against a :class:`MetricStore`."""

    def __init__(self, store: MetricStore, query: str, steps: list[float]) -> None:
        self.store = store
        self.query = query
        self.steps = steps
        self.points = 0  # series x steps the selectors evaluated so far
        self._handlers: dict[type, Callable[[promql_parser.Expr], Value]] = {
            promql_parser.NumberLiteral: lambda node: float(node.val),
            promql_parser.ParenExpr: lambda node: self.evaluate(node.expr),
            promql_parser.UnaryExpr: self._negate,
            promql_parser.VectorSelector: self._instant,
            promql_parser.Call: self._call,
            promql_parser.AggregateExpr: self._aggregate,
            promql_parser.BinaryExpr: self._binary,
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
            raise self._unsupported("subqueries", r"\[[^\]]*:")
        if isinstance(node, promql_parser.StringLiteral):
            raise self._unsupported("a string literal here", "[\"'`]")
        raise self._unsupported(f"the expression {node.prettify()}", None)

    # -- operands ------------------------------------------------------------------------------------
    def _vector(self, node: promql_parser.Expr) -> Vector:
        value = self.evaluate(node)
        if not isinstance(value, list):
            raise QueryError(f"expected an instant vector, got the scalar {node.prettify()}")
        return value

    def _scalar(self, node: promql_parser.Expr) -> float:
        """A function's scalar parameter, which the subset takes as one number for every step."""
        value = self.evaluate(node)
        if isinstance(value, list):
            raise QueryError(f"expected a scalar, got the instant vector {node.prettify()}")
        if isinstance(value, Steps):
            raise self._unsupported("a parameter that changes with time, such as time(),", r"\btime\s*\(")
        return value

    def _unsupported(self, what: str, pattern: str | None, advice: str = "") -> QueryError:
        message = f"{what} is not supported" + (f"; {advice}" if advice else "")
        return QueryError(message, locate(self.query, pattern) if pattern else None)

    # -- selectors and functions ---------------------------------------------------------------------
    def _matched(
        self, selector: promql_parser.VectorSelector
    ) -> tuple[list[SeriesMeta], list[Samples], np.ndarray]:
        """The series a selector matches, their samples, and the window ends (steps less the offset);
        the query's points so far are counted first, and refused over :data:`MAX_QUERY_POINTS`."""
        if selector.at is not None:
            raise self._unsupported("the @ modifier", "@")
        offset = selector.offset.total_seconds() if selector.offset else 0.0
        metas = self.store.select(selector, self.query)
        self.points += len(metas) * len(self.steps)
        if self.points > MAX_QUERY_POINTS:
            raise QueryError(
                f"the query would evaluate {self.points:,} points ({len(metas):,} series at "
                f"{len(self.steps):,} steps here); the limit is {MAX_QUERY_POINTS:,}: select fewer "
                "series with label matchers, or use a larger step or a shorter range"
            )
        return metas, self.store.arrays(metas), np.array(self.steps) - offset

    def _series_arrays(
        self, selector: promql_parser.VectorSelector, span: float, kernel: RangeKernel
    ) -> Arrays:
        """``kernel`` applied to each matched series' samples in the ``span`` seconds before each step."""
        metas, samples, ends = self._matched(selector)
        return _windowed(metas, samples, ends, span, kernel)

    def _instant_arrays(self, selector: promql_parser.VectorSelector) -> Arrays:
        """An instant selector: the newest sample in the lookback, none once the series is stale."""
        metas, samples, ends = self._matched(selector)
        kernel = instant(self.store.scrape_intervals(samples), self.store.last_scrape())
        return _windowed(metas, samples, ends, LOOKBACK_DELTA, kernel)

    def _per_series(self, selector: promql_parser.VectorSelector, span: float, kernel: RangeKernel) -> Vector:
        return _rows(self._series_arrays(selector, span, kernel))

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
            renamed = [(without_name(labels), values, present) for labels, values, present in arrays]
            if len({label_key(labels) for labels, _, _ in renamed}) == len(renamed):
                return renamed
        return None

    def _matrix(self, node: promql_parser.Call) -> promql_parser.MatrixSelector:
        """A range function's range vector, which the subset takes from a selector only."""
        matrix = node.args[0]
        if not isinstance(matrix, promql_parser.MatrixSelector):
            raise self._unsupported("subqueries", r"\[[^\]]*:")
        return matrix

    def _range_kernel(self, node: promql_parser.Call) -> RangeKernel | None:
        """The kernel of a function applied per series to a range vector; None for any other function."""
        if node.func.name != "predict_linear":
            return RANGE_FUNCTIONS.get(node.func.name)
        # Prometheus predicts from the evaluation time, which an offset puts after the window's end.
        offset = self._matrix(node).vector_selector.offset
        return predict_linear(self._scalar(node.args[1]) + (offset.total_seconds() if offset else 0.0))

    def _call(self, node: promql_parser.Call) -> Value:
        name = node.func.name
        kernel = self._range_kernel(node)
        if kernel is not None:
            matrix = self._matrix(node)
            return _drop_names(self._per_series(matrix.vector_selector, matrix.range.total_seconds(), kernel))
        if name in ELEMENTWISE:
            return self._elementwise(
                name, self._vector(node.args[0]), [self._scalar(a) for a in node.args[1:]]
            )
        if name == "histogram_quantile":
            return self._histogram_quantile(self._scalar(node.args[0]), self._vector(node.args[1]))
        if name == "absent":
            return self._absent(node, self._vector(node.args[0]))
        if name == "absent_over_time":
            matrix = self._matrix(node)
            arrays = self._series_arrays(matrix.vector_selector, matrix.range.total_seconds(), latest)
            return self._absent(node, _rows(arrays))
        if name == "label_replace":
            strings = [argument.val for argument in node.args[1:]]
            return _relabel(self._vector(node.args[0]), label_replacer(*strings))
        if name == "time":
            return Steps(tuple(self.steps))
        raise self._unsupported(f"the function {name}()", rf"\b{name}\s*\(")

    def _elementwise(self, name: str, rows: Vector, params: list[float]) -> Vector:
        """abs, clamp_min, clamp_max and clamp of each value; clamp with its bounds crossed gives
        nothing at all, as in Prometheus."""
        if name == "clamp" and params[1] < params[0]:
            return []
        function = ELEMENTWISE[name]
        return _drop_names(_map_values(rows, lambda value: function(value, *params)))

    def _absent(self, node: promql_parser.Call, rows: Vector) -> Vector:
        """absent and absent_over_time: 1 at each step where the argument has no series at all,
        labelled from the argument's equality matchers."""
        steps = budget.checked(range(len(self.steps)), every=budget.CHECK_EVERY)
        empty = [all(row.values[step] is None for row in rows) for step in steps]
        return [Row(absent_labels(node.args[0]), [1.0 if none else None for none in empty])]

    def _histogram_quantile(self, q: float, rows: Vector) -> Vector:
        """Classic-histogram quantiles: buckets are grouped by their labels other than ``le``.

        Series without a numeric ``le`` are ignored, as Prometheus does.  At each step only the buckets
        with a value count; steps are computed together per set of buckets present.
        """
        buckets = [(bound, row) for row in rows if (bound := _upper_bound(row.labels)) is not None]
        result = []
        groups = _group(buckets, lambda bucket: _filter(bucket[1].labels, {BUCKET_LABEL, METRIC_NAME}))
        for labels, members in budget.checked(groups):
            members.sort(key=lambda bucket: bucket[0])
            bounds = np.array([bound for bound, _ in members])
            present = np.array([[value is not None for value in row.values] for _, row in members])
            counts = np.array(
                [[value or 0.0 for value in row.values] for _, row in members], dtype=np.float64
            )
            values = np.zeros(len(self.steps))
            for pattern in {tuple(column) for column in present.T.tolist()}:
                if not any(pattern):
                    continue
                steps = np.flatnonzero((pattern == present.T).all(axis=1))
                used = np.flatnonzero(pattern)
                values[steps] = bucket_quantiles(q, bounds[used], counts[np.ix_(used, steps)])
            result.append(Row(labels, _optional(values, present.any(axis=0))))
        return result

    # -- aggregation ---------------------------------------------------------------------------------
    def _aggregate(self, node: promql_parser.AggregateExpr) -> Vector:
        """Aggregations are memoised per store and steps: dashboards ask for the same one repeatedly
        (p50, p95 and p99 of one histogram aggregate the same buckets)."""
        key = (str(node), self.steps[0], self.steps[-1], len(self.steps))
        if key not in self.store.memo:
            self.store.memo[key] = self._aggregate_once(node)
        return self.store.memo[key]

    def _aggregate_once(self, node: promql_parser.AggregateExpr) -> Vector:
        op = str(node.op)
        if op not in AGGREGATORS and op not in ("topk", "bottomk"):
            raise self._unsupported(f"the aggregation {op}", rf"\b{op}\b")
        relabel = _grouping(node.modifier)
        if op in AGGREGATORS:
            arrays = self._operand_arrays(node.expr)
            if arrays is not None:
                return _aggregate_arrays(op, _group(arrays, lambda item: relabel(item[0])))
        groups = _group(self._vector(node.expr), lambda row: relabel(row.labels))
        if op in AGGREGATORS:
            return [Row(labels, _reduce_steps(AGGREGATORS[op], members)) for labels, members in groups]
        return _select_k(groups, self._scalar(node.param), largest=op == "topk")

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
        if op in SET_OPERATORS:
            raise self._unsupported(f"the set operator '{op}'", rf"\b{op}\b")
        if op not in ARITHMETIC and op not in COMPARISONS:
            raise self._unsupported(f"the operator '{op}'", re.escape(op))
        modifier = node.modifier
        if modifier is not None and modifier.card != promql_parser.VectorMatchCardinality.OneToOne:
            raise self._unsupported(
                "many-to-one matching (group_left/group_right)", r"\bgroup_(left|right)\b", ONE_TO_ONE_ADVICE
            )
        return_bool = modifier is not None and modifier.return_bool
        lhs, rhs = self.evaluate(node.lhs), self.evaluate(node.rhs)
        if not isinstance(lhs, list) and not isinstance(rhs, list):
            return _scalars(op, lhs, rhs)
        if isinstance(lhs, list) and isinstance(rhs, list):
            return _match(op, lhs, rhs, modifier.matching if modifier else None, return_bool)
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

    def signature(labels: dict[str, str]) -> LabelKey:
        return label_key(_restrict(without_name(labels), matching))

    right = merge_rows(
        ((signature(row.labels), row) for row in rhs),
        "many-to-many matching not allowed: found duplicate series on the right-hand side of the operation",
    )
    operation = _operation(op, return_bool, keep_right=False)
    drop_name = op in ARITHMETIC or return_bool
    results = []
    for row in budget.checked(lhs):
        partner = right.get(signature(row.labels))
        if partner is None:
            continue
        labels = _restrict(without_name(row.labels) if drop_name else row.labels, matching)
        results.append((label_key(labels), Row(labels, _combine(operation, row.values, partner.values))))
    collision = (
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right),"
        f" which this subset does not support; {ONE_TO_ONE_ADVICE}"
    )
    return list(merge_rows(results, collision).values())


# -- label helpers ------------------------------------------------------------------------------------
def _restrict(labels: dict[str, str], matching: promql_parser.LabelModifier | None) -> dict[str, str]:
    """``on(...)`` keeps only the listed labels, ``ignoring(...)`` drops them."""
    if matching is None:
        return labels
    names = set(matching.labels)
    if matching.type == promql_parser.LabelModifierType.Include:
        return _keep(labels, names)
    return _filter(labels, names)


def _keep(labels: dict[str, str], names: set[str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name in names}


def _filter(labels: dict[str, str], names: set[str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name not in names}


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
        return lambda labels: _keep(labels, names)
    return lambda labels: _filter(labels, {*names, METRIC_NAME})


def _group(
    items: Iterable[T], labels_of: Callable[[T], dict[str, str]]
) -> list[tuple[dict[str, str], list[T]]]:
    """Items grouped by the label set ``labels_of`` gives them, in order of first appearance."""
    groups: dict[LabelKey, tuple[dict[str, str], list[T]]] = {}
    for item in items:
        labels = labels_of(item)
        groups.setdefault(label_key(labels), (labels, []))[1].append(item)
    return list(groups.values())


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


def _aggregate_arrays(op: str, groups: list[tuple[dict[str, str], Arrays]]) -> Vector:
    """sum/avg/min/max/count of each group at every step at once, over the members present at a step.

    Member rows are added in order, as the general path's reducers do; min and max ignore NaN unless
    every present member is NaN.
    """
    rows = []
    for labels, members in groups:
        values = np.stack([member[1] for member in members])
        present = np.stack([member[2] for member in members])
        counts = present.sum(axis=0)
        if op == "count":
            result = counts.astype(np.float64)
        elif op in ("sum", "avg"):
            result = np.where(present, values, 0.0).sum(axis=0)
            if op == "avg":
                result = result / np.maximum(counts, 1)
        else:
            pick = np.fmax if op == "max" else np.fmin
            result = pick.reduce(np.where(present, values, np.nan), axis=0)
        rows.append(Row(labels, _optional(result, counts > 0)))
    return rows


def _reduce_steps(reduce: Reducer, members: Vector) -> list[float | None]:
    """``reduce`` over the members present at each step (no value where none is)."""
    results: list[float | None] = []
    columns = zip(*(row.values for row in members), strict=True)
    for column in budget.checked(columns, every=budget.CHECK_EVERY):
        present = [value for value in column if value is not None]
        results.append(reduce(present) if present else None)
    return results


def _select_k(groups: list[tuple[dict[str, str], Vector]], k: float, largest: bool) -> Vector:
    """topk/bottomk: per group and step, the k extreme elements keep their value (and labels)."""
    if math.isnan(k):
        raise QueryError("the parameter of topk/bottomk must be a number, got NaN")
    if k < 1:
        return []
    result = []
    for _, members in groups:
        limit = int(min(k, len(members)))
        picked: list[list[float | None]] = [[None] * len(row.values) for row in members]
        columns = zip(*(row.values for row in members), strict=True)
        for step, column in enumerate(budget.checked(columns, every=budget.CHECK_EVERY)):
            present = [index for index, value in enumerate(column) if value is not None]
            for index in _extremes(limit, present, column, largest):
                picked[index][step] = column[index]
        result.extend(Row(row.labels, values) for row, values in zip(members, picked, strict=True))
    return result


def _extremes(limit: int, indexes: list[int], column: Sequence[float | None], largest: bool) -> list[int]:
    """The ``limit`` indexes with the largest (or smallest) values; NaN always ranks last."""
    if largest:
        return heapq.nlargest(limit, indexes, key=lambda i: (not math.isnan(column[i]), column[i]))
    return heapq.nsmallest(limit, indexes, key=lambda i: (math.isnan(column[i]), column[i]))


def _upper_bound(labels: dict[str, str]) -> float | None:
    try:
        return float(labels[BUCKET_LABEL])
    except (KeyError, ValueError):
        return None
