"""Running PromQL for the views: one store per request, native-resolution evaluation, chart traces."""

from __future__ import annotations

from flask import g

from observability_ui.query import promql
from observability_ui.query.promql_model import METRIC_NAME, format_labels, without_name
from observability_ui.request_context import UiError, dataset, metric_cache
from obsim.timerange import TimeRange

SCRAPE_INTERVAL_S = 15.0


def store() -> promql.MetricStore:
    """This request's store over the shared cache of what has been read of its dataset's metrics."""
    if "metric_store" not in g:
        g.metric_store = promql.MetricStore(dataset(), metric_cache())
    return g.metric_store


def series_name(labels: dict[str, str], legend: str = "") -> str:
    """A series' name in a legend or table: a panel's ``legend`` template filled in from the labels,
    else the series as Prometheus and Grafana write it, ``name{label="value"}``."""
    if legend:
        try:
            return legend.format(**labels)
        except (KeyError, IndexError):
            pass
    shown = without_name(labels)
    name = labels.get(METRIC_NAME, "")
    if not shown:
        return name or "value"
    return name + format_labels(shown)


def range_series(expr: str, tr: TimeRange) -> list[promql.Series]:
    """Evaluate at the scrape resolution; charts downsample by keeping each bucket's maximum."""
    try:
        return promql.query_range(store(), expr, tr.start, tr.end, SCRAPE_INTERVAL_S)
    except promql.QueryError as error:
        where = f" (at position {error.position})" if error.position is not None else ""
        raise UiError(f"{error.message}{where}") from None
