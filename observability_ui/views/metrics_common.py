"""Running PromQL for the views: one store per request, native-resolution evaluation, chart traces."""

from __future__ import annotations

from flask import current_app, g

from observability_ui.query import promql
from observability_ui.request_context import METRIC_CACHE, UiError, dataset
from observability_ui.timerange import TimeRange

SCRAPE_INTERVAL_S = 15.0


def store() -> promql.MetricStore:
    """This request's store over the app-wide cache of what has been read of the metrics."""
    if "metric_store" not in g:
        g.metric_store = promql.MetricStore(dataset(), current_app.extensions[METRIC_CACHE])
    return g.metric_store


def series_name(labels: dict[str, str], legend: str = "") -> str:
    if legend:
        try:
            return legend.format(**labels)
        except (KeyError, IndexError):
            pass
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    name = labels.get("__name__", "")
    if not shown:
        return name or "value"
    return f"{name}{{{', '.join(f'{k}={v!r}' for k, v in sorted(shown.items()))}}}"


def range_series(expr: str, tr: TimeRange) -> list[promql.Series]:
    """Evaluate at the scrape resolution; charts downsample by keeping each bucket's maximum."""
    try:
        return promql.query_range(store(), expr, tr.start, tr.end, SCRAPE_INTERVAL_S)
    except promql.QueryError as error:
        where = f" (at position {error.position})" if error.position is not None else ""
        raise UiError(f"{error.message}{where}") from None
