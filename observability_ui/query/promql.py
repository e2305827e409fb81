"""PromQL over a dataset's metrics: the query engine behind the UI's metrics explorer.

Queries are parsed by ``promql-parser`` (the Rust promql-parser crate's Python binding), so syntax and
type errors read like Prometheus's own, and evaluated by :mod:`observability_ui.query.promql_eval`
with Prometheus 3 semantics: a 5 minute lookback for instant selectors that ends where a series went
stale (the first scrape it was missing from), left-open range windows, extrapolated rate/increase/delta,
offset and ``@``, subqueries, every stable function and aggregation for float samples, and vector
matching one-to-one, many-to-one (group_left/group_right) and for the set operators.  What Prometheus 3
has only behind a feature flag, or only for native histograms, is refused with a :class:`QueryError`
that names it.

All times are epoch seconds, like the dataset's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Literal

import promql_parser

from observability_ui.query import budget
from observability_ui.query.limits import QueryTooLarge, check_promql
from observability_ui.query.promql_eval import Evaluator
from observability_ui.query.promql_model import (
    METRIC_NAME,
    QueryError,
    Series,
    Value,
    label_key,
    locate,
    mask_strings,
    per_step,
)
from observability_ui.query.promql_store import MetricStore

__all__ = [
    "MetricStore",
    "QueryError",
    "Series",
    "parse",
    "query_instant",
    "query_instant_typed",
    "query_range",
    "selected_names",
    "unknown_metrics",
]

ORDERING_FUNCTIONS = ("sort", "sort_desc")
ORDERING_AGGREGATIONS = ("topk", "bottomk")
MAX_POINTS = 11_000  # per series, Prometheus's limit for range queries
WINDOW_SLACK = 86_400.0  # how far (seconds) a query may reach beyond the dataset's window

ResultType = Literal["scalar", "vector"]

_BRACKETS = {"parenthesis": "()", "brace": "{}", "bracket": "[]"}
_OPERANDS = ("expr", "lhs", "rhs", "param", "vector_selector")  # what a node other than a call nests


def query_range(
    store: MetricStore, expr: str, start: float, end: float, step: float, refuse_far: bool = True
) -> list[Series]:
    """Evaluate ``expr`` at ``start``, ``start + step``, ... up to ``end``; series sorted by labels.

    ``refuse_far``: refuse times more than a day from the recording, which in the UI are almost
    always milliseconds typed as seconds; Prometheus's API answers them as Prometheus would (a
    client such as Grafana asks at the real "now")."""
    tree = parse(expr)
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not math.isfinite(value):
            raise QueryError(f"{name} must be a finite number of epoch seconds, got {value}")
    if end < start:
        raise QueryError("end timestamp must not be before start time")
    if step <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted; use a positive step"
        )
    if (end - start) / step > MAX_POINTS:
        raise QueryError(
            f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries; "
            f"use a step of at least {math.ceil((end - start) / MAX_POINTS)} s"
        )
    if refuse_far:
        _check_window(store, start, end)
    # The grid in whole milliseconds, as Prometheus's: in float seconds (end - start) / step can
    # fall a rounding short of a whole number and lose the last step.
    start_ms, end_ms, step_ms = round(start * 1000), round(end * 1000), max(round(step * 1000), 1)
    steps = [(start_ms + index * step_ms) / 1000 for index in range((end_ms - start_ms) // step_ms + 1)]
    return store.answer(
        ("range", expr, start_ms, end_ms, step_ms), lambda: _evaluate(store, expr, tree, steps), _points
    )


def query_instant(store: MetricStore, expr: str, at: float) -> list[Series]:
    """Evaluate ``expr`` at one time: each series carries a single point."""
    return query_instant_typed(store, expr, at)[1]


def query_instant_typed(
    store: MetricStore, expr: str, at: float, refuse_far: bool = True
) -> tuple[ResultType, list[Series]]:
    """:func:`query_instant` with what the result is, as Prometheus's API names it: a ``scalar``
    (one series without labels) or a ``vector``; ``refuse_far`` as for :func:`query_range`."""
    tree = parse(expr)
    if not math.isfinite(at):
        raise QueryError(f"time must be a finite number of epoch seconds, got {at}")
    if refuse_far:
        _check_window(store, at, at)

    def typed() -> tuple[ResultType, list[Series]]:
        value = Evaluator(store, expr, [at]).evaluate(tree)
        kind: ResultType = "vector" if isinstance(value, list) else "scalar"
        return kind, _to_series(value, [at], keep_order=_orders(tree))

    return store.answer(("instant", expr, at), typed, lambda answer: _points(answer[1]))


def _points(answer: list[Series]) -> int:
    """An answer's size for :meth:`MetricStore.answer`: its points, and one per series."""
    return sum(len(series.points) + 1 for series in answer)


def parse(expr: str) -> promql_parser.Expr:
    """Parse ``expr``, turning the parser's complaints into a :class:`QueryError` with a position.

    Every candidate's query reaches the parser through here, after the size limits: a query nested
    thousands of levels deep crashes the parser's process instead of failing (:mod:`.limits`).
    """
    if not expr.strip():
        raise QueryError("empty query: enter a PromQL expression", 0)
    try:
        check_promql(expr)
    except QueryTooLarge as exc:
        raise QueryError(exc.message) from None
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        message = str(exc)
        raise QueryError(message, syntax_error_position(expr, message)) from exc
    except BaseException as exc:
        if not _is_parser_panic(exc):
            raise
        raise QueryError(f"the PromQL parser failed on this query: {exc}") from exc


def selected_names(tree: promql_parser.Expr) -> list[str]:
    """The metric names the expression's selectors name (``x`` of ``rate(x[5m])`` or of
    ``{__name__="x"}``), left to right."""
    names: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, promql_parser.VectorSelector):
            names += [node.name] if node.name else _name_matches(node)
            continue
        children = node.args if isinstance(node, promql_parser.Call) else _operands(node)
        stack.extend(reversed(children))
    return names


def _operands(node: promql_parser.Expr) -> list[promql_parser.Expr]:
    return [child for name in _OPERANDS if (child := getattr(node, name, None)) is not None]


def _name_matches(selector: promql_parser.VectorSelector) -> list[str]:
    return [
        matcher.value
        for matcher in selector.matchers.matchers
        if matcher.name == METRIC_NAME and matcher.op == promql_parser.MatchOp.Equal
    ]


def unknown_metrics(store: MetricStore, expr: str) -> list[str]:
    """The metric names ``expr`` selects that no series of the dataset has, each once: an empty
    result is then a misspelt name, not a quiet period, and the candidate should be told."""
    known = set(store.metric_names())
    return list(dict.fromkeys(name for name in selected_names(parse(expr)) if name not in known))


def _is_parser_panic(exc: BaseException) -> bool:
    """pyo3 raises a Rust panic (e.g. on an infinite duration) as PanicException, not an Exception."""
    return type(exc).__name__ == "PanicException"


def _check_window(store: MetricStore, start: float, end: float) -> None:
    """Refuse times far from the data: almost always milliseconds, or a range meant for another dataset."""
    low, high = store.window
    if start < low - WINDOW_SLACK or end > high + WINDOW_SLACK:
        raise QueryError(
            f"time range {start:.0f}..{end:.0f} is more than a day outside the dataset's window "
            f"{low:.0f}..{high:.0f} (times are epoch seconds)"
        )


def _evaluate(store: MetricStore, expr: str, tree: promql_parser.Expr, steps: list[float]) -> list[Series]:
    value = Evaluator(store, expr, steps).evaluate(tree)
    return _to_series(value, steps, keep_order=len(steps) == 1 and _orders(tree))


def _orders(tree: promql_parser.Expr) -> bool:
    """Whether the outermost operation orders its result (sort, sort_desc, topk, bottomk): Prometheus
    returns an instant query's vector in the order evaluation left it, a range query's series by labels."""
    while isinstance(tree, promql_parser.ParenExpr):
        tree = tree.expr
    if isinstance(tree, promql_parser.Call):
        return tree.func.name in ORDERING_FUNCTIONS
    return isinstance(tree, promql_parser.AggregateExpr) and str(tree.op) in ORDERING_AGGREGATIONS


def _to_series(value: Value, steps: list[float], keep_order: bool = False) -> list[Series]:
    """Result rows as public series, without series that have no point in the queried range; sorted
    by labels unless ``keep_order``."""
    if not isinstance(value, list):
        return [Series({}, list(zip(steps, per_step(value), strict=False)))]
    series = (
        Series(
            dict(row.labels), [(step, v) for step, v in zip(steps, row.values, strict=True) if v is not None]
        )
        for row in budget.checked(value)
    )
    present = [item for item in series if item.points]
    return present if keep_order else sorted(present, key=lambda item: label_key(item.labels))


# -- syntax error positions ---------------------------------------------------------------------------
# The parser's messages carry no offsets.  Messages about something that is not where parsing stopped
# (an unclosed parenthesis, a function's arguments, a regex) are located by what they name; lexer errors
# by the shortest prefix of the query that fails with the same message, which ends at the offending
# character; generic grammar errors ("invalid promql query") get no position.
Locator = Callable[[str, re.Match[str]], int | None]

_LEXER_ERROR = re.compile(
    r"^(unexpected|bad (number or )?duration syntax|unknown escape|too many|escape sequence|'!')"
)


def _unclosed_parenthesis(expr: str) -> int | None:
    """The last ``(`` outside strings that is never closed."""
    open_at: list[int] = []
    for index, char in enumerate(mask_strings(expr)[0]):
        if char == "(":
            open_at.append(index)
        elif char == ")" and open_at:
            open_at.pop()
    return open_at[-1] if open_at else None


def _regex_literal(expr: str, regex: str) -> int | None:
    match = re.search(rf"[=!]~\s*([\"'`]){re.escape(regex)}\1", expr)
    return match.start(1) if match else None


def _fails_with(text: str, message: str) -> bool:
    try:
        promql_parser.parse(text)
    except ValueError as exc:
        return str(exc) == message
    except BaseException as exc:
        if not _is_parser_panic(exc):
            raise
    return False


def _lexer_error_position(expr: str, message: str) -> int | None:
    return next((end - 1 for end in range(1, len(expr) + 1) if _fails_with(expr[:end], message)), None)


_LOCATORS: list[tuple[re.Pattern[str], Locator]] = [
    (re.compile(r"unterminated quoted string"), lambda expr, _: mask_strings(expr)[1]),
    (re.compile(r"unexpected end of input"), lambda expr, _: len(expr.rstrip())),
    (re.compile(r"unclosed left parenthesis"), lambda expr, _: _unclosed_parenthesis(expr)),
    (
        re.compile(r"unknown function with name '(\w+)'|in call to (?:function )?'(\w+)'"),
        lambda expr, m: locate(expr, rf"\b{m[1] or m[2]}\s*\("),
    ),
    (re.compile(r"illegal regex for (.+)"), lambda expr, m: _regex_literal(expr, m[1])),
    (re.compile(r"metric name must not be set twice"), lambda expr, _: locate(expr, r"\b__name__\b")),
    (_LEXER_ERROR, lambda expr, m: _lexer_error_position(expr, m.string)),
]


def syntax_error_position(expr: str, message: str) -> int | None:
    """Best-effort offset of what a parser error message refers to; None when nothing specific is."""
    for pattern, locator in _LOCATORS:
        match = pattern.search(message)
        if match:
            return locator(expr, match)
    return None
