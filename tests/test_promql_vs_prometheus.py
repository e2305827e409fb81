"""The PromQL engine against the real Prometheus, on a generated incident's metrics.

The cron-storm run is exported as OpenMetrics, backfilled with ``promtool tsdb create-blocks-from
openmetrics`` and served by a ``prometheus`` on 127.0.0.1; every query is asked of both and the answers
must agree (labels exactly, values to 1e-9 relative: Prometheus 2.x adds without compensation).

The installed Prometheus may be 2.x, which differs from Prometheus 3 where a sample sits exactly on a
window's start (2.x's windows are closed on the left) and, for rate, near a series' first sample.  So
evaluation times fall between scrapes and at least 30 minutes into the run, windows are multiples of
the scrape interval, and a range inside a subquery (whose steps do fall on scrapes) is not one.
``last_over_time`` and ``atan2`` drop ``__name__`` differently in 2.x: they are compared through arithmetic.
Skipped where promtool or prometheus is not installed.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest import approx

from observability_ui.query.promql import MetricStore, query_instant, query_range
from obsim.dataset.reader import Dataset
from tests.real_prometheus import PROMETHEUS, PROMTOOL, serving

pytestmark = pytest.mark.skipif(
    PROMTOOL is None or PROMETHEUS is None, reason="promtool and prometheus are not installed"
)

RUN = "cron-storm"
SCRAPE = 15.0
Result = list[tuple[dict[str, str], float]]

INSTANT = [
    # aggregations
    "quantile(0.9, system_cpu_utilization_ratio)",
    "quantile by (datname) (0.25, pg_stat_activity_count)",
    "stddev(rate(gateway_responses_total[5m]))",
    "stdvar by (datname) (pg_stat_activity_count)",
    "group by (code) (gateway_responses_total)",
    'count_values("connections", db_client_connection_count)',
    'count_values without (db_client_connection_state) ("n", db_client_connection_count)',
    "sum(rate(http_server_request_duration_seconds_count[5m]))",
    "avg by (http_route) (rate(http_server_request_duration_seconds_sum[5m]))",
    # set operators
    "gateway_responses_total and on(code) rate(gateway_responses_total[5m]) > 0.5",
    "rate(gateway_responses_total[5m]) > 1 or gateway_responses_total",
    "pg_stat_activity_count unless pg_stat_activity_count == 0",
    "sum by (code) (rate(gateway_responses_total[5m])) or on() vector(0)",
    # many-to-one matching
    "sum by (http_route) (rate(http_server_request_duration_seconds_count[5m]))"
    " * on() group_left(version) service_build_info",
    "db_client_connection_count / ignoring(db_client_connection_state) group_left db_client_connection_max",
    "service_build_info * on() group_right(version) system_cpu_utilization_ratio",
    "db_client_connection_max > ignoring(db_client_connection_state) group_right db_client_connection_count",
    # subqueries and @
    "max_over_time(rate(gateway_responses_total[50s])[10m:30s])",
    "avg_over_time(sum(pg_stat_activity_count)[15m:1m])",
    "quantile_over_time(0.9, system_cpu_utilization_ratio[20m:45s] offset 5m)",
    "deriv(sum(db_client_connection_count)[10m:])",
    "system_cpu_utilization_ratio @ {early}",
    "rate(gateway_responses_total[5m] @ {early})",
    "max_over_time(sum(pg_stat_activity_count)[10m:1m] @ {early})",
    "timestamp(system_cpu_utilization_ratio @ {early})",
    # range functions
    "changes(db_client_connection_count[10m])",
    "resets(gateway_responses_total[30m])",
    "last_over_time(system_cpu_utilization_ratio[1m]) * 1",
    "present_over_time(webserver_threads_busy[5m])",
    "stddev_over_time(system_cpu_utilization_ratio[10m])",
    "stdvar_over_time(pg_stat_activity_count[10m])",
    "quantile_over_time(0.75, process_resident_memory_bytes[10m])",
    "sum_over_time(webserver_request_queue_length[10m])",
    "avg_over_time(system_cpu_utilization_ratio[10m])",
    # elementwise and other functions
    "round(system_cpu_utilization_ratio, 0.01)",
    "round(rate(gateway_responses_total[5m]))",
    "sqrt(pg_stat_activity_count)",
    "exp(-system_cpu_utilization_ratio)",
    "ln(pg_stat_activity_count)",
    "log2(db_client_connection_count)",
    "log10(process_resident_memory_bytes)",
    "ceil(rate(gateway_responses_total[5m]))",
    "floor(rate(gateway_responses_total[5m]))",
    "sgn(deriv(process_resident_memory_bytes[10m]))",
    "acos(system_cpu_utilization_ratio) + asin(system_cpu_utilization_ratio) + atan(system_cpu_utilization_ratio)",
    "cosh(system_cpu_utilization_ratio) - sinh(system_cpu_utilization_ratio) * tanh(system_cpu_utilization_ratio)",
    "deg(system_cpu_utilization_ratio) + rad(system_cpu_utilization_ratio)",
    "gateway_responses_total % 7",
    "system_cpu_utilization_ratio ^ 2",
    "system_cpu_utilization_ratio atan2 0.5 + 0",  # 2.x keeps __name__ through atan2, 3 drops it
    "scalar(sum(pg_stat_activity_count))",
    "scalar(pg_stat_activity_count)",
    "vector(1) + scalar(http_server_active_requests)",
    'label_join(db_client_connection_count, "id", "/", "db_client_connection_pool_name", "db_client_connection_state")',
    'label_replace(((service_build_info)), ("major"), ("$1"), ("version"), ("([0-9]+)\\\\..*"))',
    "timestamp(system_cpu_utilization_ratio)",
    "timestamp(sum(system_cpu_utilization_ratio))",
    "day_of_week()",
    "hour()",
    "minute(timestamp(system_cpu_utilization_ratio))",
    "day_of_month(process_start_time_seconds)",
    "day_of_year()",
    "days_in_month()",
    "month(process_start_time_seconds)",
    "year()",
    "pi() * 2",
    "histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
    # parameters that change with time
    "quantile(scalar(http_server_active_requests) / 10, system_cpu_utilization_ratio)",
    "round(system_cpu_utilization_ratio, scalar(http_server_active_requests) / 100)",
    "clamp_max(pg_stat_activity_count, scalar(http_server_active_requests))",
    "quantile_over_time(scalar(http_server_active_requests) / 10, system_cpu_utilization_ratio[10m])",
    "predict_linear(process_resident_memory_bytes[10m], scalar(http_server_active_requests) * 60)",
    "predict_linear(process_resident_memory_bytes[10m] @ {early}, 600)",
    "predict_linear(sum(pg_stat_activity_count)[10m:1m] offset 2m, 300)",
]
ORDERED = [
    "sort(gateway_responses_total)",
    "sort_desc(gateway_responses_total)",
    "topk(4, gateway_responses_total)",
    "bottomk(3, gateway_responses_total)",
    "sort(sum by (http_route) (http_server_request_duration_seconds_count))",
]
RANGE = [
    "sum by (code) (rate(gateway_responses_total[5m])) or on() vector(0)",
    "max_over_time(rate(gateway_responses_total[50s])[10m:30s])",
    "avg_over_time(sum(pg_stat_activity_count)[15m:1m])",
    "sum by (http_route) (rate(http_server_request_duration_seconds_count[5m]))"
    " * on() group_left(version) service_build_info",
    "changes(db_client_connection_count[10m])",
    "quantile(0.5, system_cpu_utilization_ratio) and on() hour() > 0",
    "system_cpu_utilization_ratio @ {early}",
    "stddev_over_time(system_cpu_utilization_ratio[10m])",
    "topk(scalar(http_server_active_requests), gateway_responses_total)",
    "histogram_quantile(scalar(http_server_active_requests) / 10,"
    " sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
]


@pytest.fixture(scope="module")
def run(datasets) -> Path:
    return datasets[RUN]


@pytest.fixture(scope="module")
def window(run: Path) -> tuple[float, float]:
    with Dataset.open(run) as dataset:
        return dataset.window()


@pytest.fixture(scope="module")
def prometheus(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a Prometheus serving the run's metrics, backfilled with promtool."""
    with serving(run, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def _ask(url: str, path: str, **params: str) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=60) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _number(text: str) -> float:
    return float(text.replace("Inf", "inf"))


def _times(window: tuple[float, float]) -> list[float]:
    """Evaluation times between scrapes, from half an hour into the run to its last quarter."""
    start, end = window
    return [start + offset + 7 for offset in (1800, (end - start) / 2, end - start - 1800)]


def _theirs_instant(url: str, expr: str, at: float) -> Result:
    data = _ask(url, "query", query=expr, time=repr(at))
    if data["resultType"] == "scalar":
        return [({}, _number(data["result"][1]))]
    return [(item["metric"], _number(item["value"][1])) for item in data["result"]]


def _ours_instant(store: MetricStore, expr: str, at: float) -> Result:
    return [(series.labels, series.points[0][1]) for series in query_instant(store, expr, at)]


def _same(ours: Result, theirs: Result, ordered: bool) -> None:
    if not ordered:
        ours = sorted(ours, key=lambda item: sorted(item[0].items()))
        theirs = sorted(theirs, key=lambda item: sorted(item[0].items()))
    assert [labels for labels, _ in ours] == [labels for labels, _ in theirs]
    for (labels, mine), (_, real) in zip(ours, theirs, strict=True):
        assert (math.isnan(mine) and math.isnan(real)) or mine == approx(real, rel=1e-9, abs=1e-12), labels


@pytest.fixture(scope="module")
def store(run: Path) -> Iterator[MetricStore]:
    with Dataset.open(run) as dataset:
        yield MetricStore(dataset)


@pytest.mark.parametrize("expr", INSTANT + ORDERED)
def test_instant_queries_agree_with_prometheus(
    store: MetricStore, prometheus: str, window: tuple[float, float], expr: str
) -> None:
    early = window[0] + 1800 + SCRAPE * 20 + 4
    query = expr.format(early=repr(early))
    answered = False
    for at in _times(window):
        theirs = _theirs_instant(prometheus, query, at)
        _same(_ours_instant(store, query, at), theirs, ordered=expr in ORDERED)
        answered = answered or bool(theirs)
    assert answered, "Prometheus answered nothing at any of the times: the query tests nothing"


@pytest.mark.parametrize("expr", RANGE)
def test_range_queries_agree_with_prometheus(
    store: MetricStore, prometheus: str, window: tuple[float, float], expr: str
) -> None:
    start = window[0] + 1800 + 7
    end, step = start + 3600, 150.0
    query = expr.format(early=repr(start + 600))
    data = _ask(prometheus, "query_range", query=query, start=repr(start), end=repr(end), step=repr(step))
    theirs = {
        tuple(sorted(item["metric"].items())): [(float(t), _number(v)) for t, v in item["values"]]
        for item in data["result"]
    }
    ours = {tuple(sorted(s.labels.items())): s.points for s in query_range(store, query, start, end, step)}
    assert theirs and sorted(ours) == sorted(theirs)
    for labels, points in ours.items():
        assert [t for t, _ in points] == [t for t, _ in theirs[labels]], labels
        assert [v for _, v in points] == approx([v for _, v in theirs[labels]], rel=1e-9, nan_ok=True), labels


def _same_range(store: MetricStore, url: str, query: str, start: float, end: float, step: float) -> None:
    data = _ask(url, "query_range", query=query, start=repr(start), end=repr(end), step=repr(step))
    theirs = {
        tuple(sorted(item["metric"].items())): [(float(t), _number(v)) for t, v in item["values"]]
        for item in data["result"]
    }
    ours = {tuple(sorted(s.labels.items())): s.points for s in query_range(store, query, start, end, step)}
    assert theirs and sorted(ours) == sorted(theirs)
    for labels, points in ours.items():
        assert [t for t, _ in points] == [t for t, _ in theirs[labels]], labels
        assert [v for _, v in points] == approx([v for _, v in theirs[labels]], rel=1e-9, nan_ok=True), labels


EDGE_QUERIES = [
    "sum(pg_stat_activity_count)",
    "system_cpu_utilization_ratio",
    "max_over_time(webserver_threads_busy[2m])",
]


@pytest.mark.parametrize("expr", EDGE_QUERIES)
@pytest.mark.parametrize("where", ["before the recording", "past its end"])
def test_ranges_reaching_outside_the_recording_agree_with_prometheus(
    store: MetricStore, prometheus: str, window: tuple[float, float], expr: str, where: str
) -> None:
    """A range that starts before the first scrape keeps its own grid (no point before the data);
    one that runs past the last scrape answers for the 5 minute lookback, then nothing."""
    start = (window[0] if where == "before the recording" else window[1]) - 600 + 7
    _same_range(store, prometheus, expr, start, start + 1200, 30.0)


def test_millisecond_steps_around_a_scrape_agree_with_prometheus(
    store: MetricStore, prometheus: str, window: tuple[float, float]
) -> None:
    """Times in whole milliseconds: a 1 ms grid across a scrape, and a [2003ms] window whose right
    edge reaches the scrape exactly at one step (its left edge never on a scrape, where
    Prometheus 2.x and 3 differ)."""
    scrape = window[0] + 1800
    _same_range(
        store,
        prometheus,
        "count_over_time(system_cpu_utilization_ratio[2003ms])",
        scrape - 0.003,
        scrape + 0.003,
        0.001,
    )
