"""The metrics explorer: a metric picker with label values, a PromQL box, graph over the range
or table at an instant, and errors that point at the position in the query."""

from __future__ import annotations

from flask import Blueprint, request

from observability_ui import charts
from observability_ui.query import promql
from observability_ui.request_context import UiError, instant, time_range
from observability_ui.views.metrics_common import SCRAPE_INTERVAL_S, series_name, store
from observability_ui.views.page import render

bp = Blueprint("metrics", __name__)

MAX_SERIES_DRAWN = 60


def _picker(metric: str) -> dict:
    names = store().metric_names()
    labels = {}
    if metric and metric in names:
        labels = {label: store().label_values(metric, label) for label in store().label_names(metric)}
    return {"names": names, "metric": metric, "labels": labels}


@bp.get("/metrics")
def page() -> str:
    tr = time_range()
    expr = request.args.get("query", "").strip()
    mode = request.args.get("mode", "graph")
    if mode not in {"graph", "table"}:
        raise UiError("mode must be graph or table")
    metric = request.args.get("metric", "") or (expr.split("{")[0].split("(")[-1].strip() if expr else "")
    error = position = None
    figure = rows = None
    truncated = 0
    at = instant(tr.end)
    if expr:
        try:
            if mode == "graph":
                result = promql.query_range(store(), expr, tr.start, tr.end, SCRAPE_INTERVAL_S)
                truncated = max(0, len(result) - MAX_SERIES_DRAWN)
                figure = charts.figure(
                    [charts.line(series_name(s.labels), s.points) for s in result[:MAX_SERIES_DRAWN]]
                )
                rows = [(series_name(s.labels), None) for s in result]
            else:
                result = promql.query_instant(store(), expr, at)
                rows = [(series_name(s.labels), s.points[-1][1]) for s in result]
        except promql.QueryError as problem:
            error, position = problem.message, problem.position
    status = 400 if error else 200
    body = render(
        "metrics.html",
        tr,
        page_title="Metrics",
        expr=expr,
        mode=mode,
        picker=_picker(metric),
        error=error,
        position=position,
        figure=figure,
        rows=rows,
        truncated=truncated,
        at=at,
        at_raw=request.args.get("at", ""),
    )
    return body, status


@bp.get("/api/metrics/query_range")
def api_query_range() -> dict:
    tr = time_range()
    expr = request.args.get("query", "")
    try:
        step = float(request.args.get("step", SCRAPE_INTERVAL_S))
        result = promql.query_range(store(), expr, tr.start, tr.end, step)
    except ValueError:
        raise UiError("step must be a number of seconds") from None
    except promql.QueryError as problem:
        return {"error": problem.message, "position": problem.position}, 400
    return {"series": [{"labels": s.labels, "points": s.points} for s in result]}
