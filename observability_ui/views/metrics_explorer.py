"""The metrics explorer: a metric picker with label values, a PromQL box, graph over the range
or table at an instant, and errors that point at the position in the query."""

from __future__ import annotations

from difflib import get_close_matches

from flask import Blueprint, request

from observability_ui import charts, params
from observability_ui.query import promql
from observability_ui.request_context import UiError, instant, time_range
from observability_ui.views.metrics_common import (
    SCRAPE_INTERVAL_S,
    series_name,
    store,
)
from observability_ui.views.page import InputError, page_range, range_json, render, status
from obsim.timerange import TimeRange

bp = Blueprint("metrics", __name__)

MAX_SERIES_DRAWN = 60
MAX_STEPS = 11_000
MAX_STEP_S = 86_400.0  # a point a day: coarser says nothing over any recording


def _picker(metric: str) -> dict:
    names = store().metric_names()
    labels = {}
    if metric and metric in names:
        labels = {label: store().label_values(metric, label) for label in store().label_names(metric)}
    return {"names": names, "metric": metric, "labels": labels}


def _queried_metric(expr: str) -> str:
    """The first metric the query selects by name, whose labels the picker lists."""
    try:
        return next(iter(promql.selected_names(promql.parse(expr))), "")
    except promql.QueryError:
        return ""


def no_series_warnings(expr: str) -> list[str]:
    """One warning per metric name the query selects that no series has, with the closest names:
    a misspelt name otherwise looks exactly like a quiet period."""
    names = store().metric_names()
    warnings = []
    for missing in promql.unknown_metrics(store(), expr):
        close = get_close_matches(missing, names, n=3)
        suggestion = f"; did you mean {' or '.join(close)}?" if close else ""
        warnings.append(f"no series named {missing} in this recording{suggestion}")
    return warnings


def _graph(expr: str, tr: TimeRange) -> tuple[str, list[tuple[str, None]], int]:
    """The chart over the whole range (empty or not), the series it lists and how many are not drawn."""
    result = promql.query_range(store(), expr, tr.start, tr.end, SCRAPE_INTERVAL_S)
    figure = charts.figure(
        [charts.line(series_name(s.labels), s.points) for s in result[:MAX_SERIES_DRAWN]],
        x_range=(tr.start, tr.end),
    )
    return figure, [(series_name(s.labels), None) for s in result], max(0, len(result) - MAX_SERIES_DRAWN)


def _table(expr: str, at: float) -> list[tuple[str, float]]:
    return [(series_name(s.labels), s.points[-1][1]) for s in promql.query_instant(store(), expr, at)]


@bp.get("/metrics")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    expr = params.value("query", "").strip()
    mode = params.value("mode", "graph")
    metric = params.known("metric", params.value("metric", ""), store().metric_names()) or _queried_metric(
        expr
    )
    error = figure = rows = None
    truncated = 0
    warnings: list[str] = []
    params.ensure("at")  # read in either mode, so that a bad one is never kept for the table
    at = instant(tr.end)
    if expr:
        try:
            if mode == "graph":
                figure, rows, truncated = _graph(expr, tr)
            else:
                rows = _table(expr, at)
            warnings = no_series_warnings(expr)
        except promql.QueryError as problem:
            error = InputError(problem.message, expr, problem.position)
    body = render(
        "metrics.html",
        tr,
        range_error,
        page_title="Metrics",
        expr=expr,
        mode=mode,
        picker=_picker(metric),
        error=error,
        figure=figure,
        rows=rows,
        truncated=truncated,
        warnings=warnings,
        at=at,
        at_raw=request.args.get("at", ""),
    )
    return body, status(range_error, error)


def _promql_error(problem: promql.QueryError) -> tuple[dict, int]:
    return {"error": problem.message, "position": problem.position}, 400


def _step(tr: TimeRange) -> float:
    """The ``step`` asked for (the schema bounds it), refused when it would give too many points."""
    step = params.value("step", SCRAPE_INTERVAL_S)
    if tr.span / step > MAX_STEPS:
        raise UiError(
            f"step {step:g} s gives more than {MAX_STEPS} points over this range; use a larger step"
        )
    return step


@bp.get("/api/metrics/names")
def api_names() -> dict:
    return {"names": store().metric_names()}


@bp.get("/api/metrics/labels")
def api_labels() -> dict:
    metric = params.value("metric")
    if metric not in store().metric_names():
        raise UiError(f"unknown metric {metric!r}", status=404)
    return {"metric": metric, "labels": _picker(metric)["labels"]}


@bp.get("/api/metrics/query_range")
def api_query_range() -> dict | tuple[dict, int]:
    tr = time_range()
    step = _step(tr)
    try:
        result = promql.query_range(store(), params.value("query"), tr.start, tr.end, step)
    except promql.QueryError as problem:
        return _promql_error(problem)
    return {
        "range": range_json(tr),
        "step": step,
        "series": [{"labels": s.labels, "points": s.points} for s in result],
        "warnings": no_series_warnings(params.value("query")),
    }


@bp.get("/api/metrics/query")
def api_query() -> dict | tuple[dict, int]:
    at = instant(time_range().end)
    try:
        result = promql.query_instant(store(), params.value("query"), at)
    except promql.QueryError as problem:
        return _promql_error(problem)
    return {
        "at": at,
        "series": [{"labels": s.labels, "value": s.points[-1][1]} for s in result],
        "warnings": no_series_warnings(params.value("query")),
    }
