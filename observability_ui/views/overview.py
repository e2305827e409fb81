"""The overview dashboard: RED per route, the connection pool, hosts, the database, jobs.

Each panel is a PromQL query evaluated at the scrape resolution and drawn with max-per-bucket
downsampling; "explore" opens the same query in the metrics explorer with the same range.  Deploys
inside the range are marked on every chart (``deploys=hide`` turns the markers off).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from flask import Blueprint

from observability_ui import annotations, charts, params
from observability_ui.query import promql
from observability_ui.query.promql_eval import LOOKBACK_DELTA
from observability_ui.request_context import dataset, time_range
from observability_ui.views.metrics_common import SCRAPE_INTERVAL_S, range_series, series_name, store
from observability_ui.views.page import page_range, range_json, render, status
from obsim.timerange import TimeRange

bp = Blueprint("overview", __name__)

HTTP = "http_server_request_duration_seconds"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    scale: float = 1.0


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = ""
    y_format: str = ""


PANELS = (
    Panel(
        "Requests per second by route",
        (Query(f"sum by (http_route) (rate({HTTP}_count[1m]))", "{http_route}"),),
        "req/s",
    ),
    Panel(
        "Server errors (5xx) %",
        (
            Query(
                f'100 * sum(rate({HTTP}_count{{http_response_status_code=~"5.."}}[1m])) / sum(rate({HTTP}_count[1m]))',
                "app 5xx %",
            ),
            Query(
                '100 * sum(rate(gateway_responses_total{code=~"5.."}[1m])) / sum(rate(gateway_responses_total[1m]))',
                "gateway 5xx %",
            ),
        ),
        "%",
    ),
    Panel(
        "Latency (all routes)",
        tuple(
            Query(f"histogram_quantile({q}, sum by (le) (rate({HTTP}_bucket[1m])))", f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ),
        "seconds",
    ),
    Panel(
        "Connection pool",
        (
            Query(
                "sum by (db_client_connection_state) (db_client_connection_count)",
                "{db_client_connection_state}",
            ),
            Query("sum(db_client_connection_max)", "max"),
            Query("sum(db_client_connection_pending_requests)", "pending"),
        ),
        "connections",
    ),
    Panel(
        "Connection wait and timeouts",
        (
            Query(
                "histogram_quantile(0.95, sum by (le) (rate(db_client_connection_wait_time_seconds_bucket[1m])))",
                "wait p95 (s)",
            ),
            Query("sum(rate(db_client_connection_timeouts_total[1m])) * 60", "timeouts / min"),
        ),
    ),
    Panel(
        "CPU utilisation by host",
        (Query("sum by (host_name) (system_cpu_utilization_ratio)", "{host_name}", 100.0),),
        "%",
    ),
    Panel(
        "Database disk I/O",
        (
            Query(
                'sum by (disk_io_direction) (rate(system_disk_io_bytes_total{host_name="db-1"}[1m]))',
                "{disk_io_direction}",
            ),
        ),
        "bytes/s",
    ),
    Panel(
        "Database sessions by state",
        (Query("sum by (state) (pg_stat_activity_count)", "{state}"),),
        "sessions",
    ),
    Panel(
        "Web server threads",
        (
            Query("sum(webserver_threads_busy)", "busy threads"),
            Query("sum(webserver_request_queue_length)", "queued requests"),
        ),
    ),
    Panel(
        "Job runs per minute",
        (Query("sum by (job) (increase(scheduler_job_runs_total[1m]))", "{job}"),),
        "runs",
    ),
    Panel("Jobs running", (Query("sum by (job) (scheduler_jobs_running)", "{job}"),), "runs"),
)


def summary_seconds(span: float) -> int:
    """The seconds the route table and the gateway's 5xx share cover, ending at the range's end: the
    range, but at least a minute, since ``increase`` needs two 15-second scrapes inside its window."""
    return max(int(span), 60)


def red_table(span: float, at: float) -> list[dict]:
    """Rate, error share and latency quantiles per operation over the selected range (at least a
    minute).  An operation is a method and a route, named as the application's server spans are
    (``POST /api/v1/workflows``): the trace search finds it by that name, and a creation's 502s are
    not averaged away among the same route's far more numerous reads."""
    seconds = summary_seconds(span)
    window = f"{seconds}s"
    by = "http_request_method, http_route"

    def by_operation(expr: str) -> dict[tuple[str, str], float]:
        return {
            (s.labels.get("http_request_method", ""), s.labels.get("http_route", "")): s.points[-1][1]
            for s in promql.query_instant(store(), expr, at)
        }

    counts = by_operation(f"sum by ({by}) (increase({HTTP}_count[{window}]))")
    errors = by_operation(
        f'sum by ({by}) (increase({HTTP}_count{{http_response_status_code=~"5.."}}[{window}]))'
    )
    quantiles = {
        q: by_operation(f"histogram_quantile({q}, sum by (le, {by}) (increase({HTTP}_bucket[{window}])))")
        for q in (0.5, 0.95, 0.99)
    }
    rows = []
    for (method, route), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        key = (method, route)
        rows.append(
            {
                "operation": f"{method} {route}",
                "method": method,
                "route": route,
                "rate": count / seconds,
                "errors": 100.0 * errors.get(key, 0.0) / count if count else 0.0,
                **{f"p{int(q * 100)}": quantiles[q].get(key) for q in quantiles},
            }
        )
    return rows


def panel_series(panel: Panel, tr: TimeRange) -> list[dict]:
    """Every series a panel draws, at the scrape resolution, named by its query's legend."""
    return [
        {
            "query": query.expr,
            "name": series_name(s.labels, query.legend),
            "labels": s.labels,
            "points": [(ts, value * query.scale) for ts, value in s.points],
        }
        for query in panel.queries
        for s in dashboard_series(query.expr, tr)
    ]


def whole_recording(metrics: promql.MetricStore, expr: str) -> list[promql.Series]:
    """A panel's query over the whole recording (and the lookback after it, past which nothing is
    left to show), on the grid of whole scrape intervals: kept with the dataset's answers, so every
    overview's range is a slice of it (:func:`dashboard_series`) instead of an evaluation."""
    return promql.query_range(metrics, expr, *_grid(metrics), SCRAPE_INTERVAL_S)


def _grid(metrics: promql.MetricStore) -> tuple[float, float]:
    """The first and last instants of :func:`whole_recording`'s grid."""
    low, high = metrics.window
    start = math.floor(low / SCRAPE_INTERVAL_S) * SCRAPE_INTERVAL_S
    return start, math.ceil((high + LOOKBACK_DELTA) / SCRAPE_INTERVAL_S) * SCRAPE_INTERVAL_S


def dashboard_series(expr: str, tr: TimeRange) -> list[promql.Series]:
    """A panel's query over ``tr`` at the instants of the scrape grid inside it, as Grafana aligns a
    dashboard's queries to their step.  Each panel's value at an instant depends on that instant
    alone (no subqueries, ``@`` or matching that could differ between steps), so slicing the
    whole recording's answer is the same as evaluating the range (tests/test_ui_views.py checks it).
    Before and after the grid there is nothing to show, so any range is a slice; but a live
    recording grows, a range not covering two grid instants is evaluated as asked, and so is one
    far from the data, which the evaluation refuses."""
    first = math.ceil(tr.start / SCRAPE_INTERVAL_S) * SCRAPE_INTERVAL_S
    last = math.floor(tr.end / SCRAPE_INTERVAL_S) * SCRAPE_INTERVAL_S
    low, high = store().window
    far = tr.start < low - promql.WINDOW_SLACK or tr.end > high + promql.WINDOW_SLACK
    if dataset().recording or last <= first or far:
        return range_series(expr, tr)
    whole = whole_recording(store(), expr)
    sliced = []
    for series in whole:
        stamps = [ts for ts, _ in series.points]
        inside = series.points[bisect.bisect_left(stamps, first) : bisect.bisect_right(stamps, last)]
        if inside:
            sliced.append(promql.Series(series.labels, inside))
    return sliced


def gateway_error_percent(span: float, at: float) -> float | None:
    """The share of all client requests the gateway answered with a 5xx over the range: the
    application's own 5xx plus the gateway's timeouts, which the per-route table cannot see."""
    window = f"{summary_seconds(span)}s"
    expr = (
        f'100 * sum(increase(gateway_responses_total{{code=~"5.."}}[{window}]))'
        f" / sum(increase(gateway_responses_total[{window}]))"
    )
    result = promql.query_instant(store(), expr, at)
    value = result[0].points[-1][1] if result else math.nan
    return value if math.isfinite(value) else None


@bp.get("/")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    deploys = annotations.deploys(tr)
    show_deploys = params.value("deploys") != "hide"
    markers = annotations.layout(deploys) if show_deploys else {}
    panels = []
    for panel in PANELS:
        lines = [charts.line(s["name"], s["points"]) for s in panel_series(panel, tr)]
        panels.append(
            {
                "title": panel.title,
                "figure": charts.figure(lines, panel.unit, panel.y_format, (tr.start, tr.end), **markers),
                "explore": panel.queries[0].expr,
            }
        )
    body = render(
        "overview.html",
        tr,
        range_error,
        page_title="Overview",
        panels=panels,
        deploys=deploys,
        show_deploys=show_deploys,
        red=red_table(tr.span, tr.end),
        summary_seconds=summary_seconds(tr.span),
        gateway_errors=gateway_error_percent(tr.span, tr.end),
    )
    return body, status(range_error)


@bp.get("/api/overview")
def api_overview() -> dict:
    tr = time_range()
    return {
        "range": range_json(tr),
        "panels": [
            {
                "title": panel.title,
                "unit": panel.unit,
                "series": panel_series(panel, tr),
            }
            for panel in PANELS
        ],
        "routes": red_table(tr.span, tr.end),
        "gateway_5xx_percent": gateway_error_percent(tr.span, tr.end),
        "deploys": [deploy.as_json() for deploy in annotations.deploys(tr)],
    }
