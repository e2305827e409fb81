"""The PromQL engine on a small hand-made dataset, against numbers worked out by hand.

The dataset is written with the real DatasetWriter: 121 scrapes 15 s apart (30 minutes) of a counter
that resets, two gauges and a two-route histogram.  Expected values come from the sample formulas
below, by hand (rate extrapolation, bucket interpolation) or by slicing the raw samples in the test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from observability_ui.query import promql_eval, promql_store
from observability_ui.query.promql import (
    MetricStore,
    QueryError,
    Series,
    parse,
    query_instant,
    query_range,
    selected_names,
    unknown_metrics,
)
from observability_ui.query.promql_functions import Windows, extrapolated_rate
from observability_ui.query.promql_model import format_labels
from observability_ui.query.promql_store import MetricCache
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter

T0 = 1_700_000_100.0  # a multiple of 15, like real scrape times
SCRAPES = 121
END = T0 + 15 * (SCRAPES - 1)
DEPLOYED = 40


def at(index: float) -> float:
    """Time of scrape ``index``."""
    return T0 + 15 * index


def requests_500(i: int) -> float:
    return float(i if i < 60 else i - 60)  # the process restarts at scrape 60


COUNTERS: dict[tuple[str, str], Callable[[int], float]] = {
    ("200", "GET"): lambda i: 6.0 + 3 * i,
    ("500", "GET"): requests_500,
    ("404", "POST"): lambda i: 0.5 + 2 * i,
}
QUEUE: dict[str, Callable[[int], float]] = {"a": lambda i: float(i % 7), "b": lambda i: 10.0 + i % 3}
# Observations per scrape falling into each bucket (non-cumulative), then the sum per scrape.
BUCKETS = ("0.1", "0.5", "1", "+Inf")
ROUTES = {"/a": ((5, 3, 2, 0), 2.0), "/b": ((1, 1, 4, 4), 6.0)}


def _write(target: Path) -> Path:
    writer = DatasetWriter(target)
    rows: list[tuple[int, float, float]] = []

    def series(
        family: str,
        mtype: str,
        sample: str,
        labels: dict[str, str],
        value: Callable[[int], float],
        scrapes: range = range(SCRAPES),
    ) -> None:
        sid = writer.series_id(family, mtype, f"{family} help", sample, labels)
        rows.extend((sid, at(i), value(i)) for i in scrapes)

    for (code, method), value in COUNTERS.items():
        series("http_requests", "counter", "http_requests_total", {"code": code, "method": method}, value)
    for host, value in QUEUE.items():
        series("queue_length", "gauge", "queue_length", {"host": host}, value)
    series("cpu_ratio", "gauge", "cpu_ratio", {"host": "a"}, lambda i: 0.5)
    latency = ("latency_seconds", "histogram")
    for route, (per_bucket, sum_per_scrape) in ROUTES.items():
        cumulative = 0
        for le, count in zip(BUCKETS, per_bucket, strict=True):
            cumulative += count
            bucket = {"le": le, "route": route}
            series(*latency, "latency_seconds_bucket", bucket, lambda i, c=cumulative: float(c * i))
        series(*latency, "latency_seconds_count", {"route": route}, lambda i, c=cumulative: float(c * i))
        series(*latency, "latency_seconds_sum", {"route": route}, lambda i, s=sum_per_scrape: s * i)
    # A release at scrape DEPLOYED: the old version's series is in no scrape from then on.
    for version, scrapes in (("1", range(DEPLOYED)), ("2", range(DEPLOYED, SCRAPES))):
        series("build_info", "gauge", "build_info", {"version": version}, lambda i: 1.0, scrapes)
    writer.add_samples(rows)
    return writer.finish({"scenario": "promql-test", "window_start": T0, "window_end": END})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricStore]:
    with Dataset.open(_write(tmp_path_factory.mktemp("promql") / "ds")) as dataset:
        yield MetricStore(dataset)


def instant(store: MetricStore, expr: str, time: float) -> dict[frozenset[tuple[str, str]], float]:
    """An instant query's result as {label set: value}."""
    result = query_instant(store, expr, time)
    assert all(len(series.points) == 1 and series.points[0][0] == time for series in result)
    return {frozenset(series.labels.items()): series.points[0][1] for series in result}


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def only(store: MetricStore, expr: str, time: float) -> float:
    """The value of an instant query expected to return exactly one series."""
    (value,) = instant(store, expr, time).values()
    return value


def error(call: Callable[[], object]) -> QueryError:
    with pytest.raises(QueryError) as caught:
        call()
    assert caught.value.message == str(caught.value)
    return caught.value


# -- metadata ---------------------------------------------------------------------------------------------
def test_metric_and_label_listing(store: MetricStore) -> None:
    assert store.metric_names() == [
        "build_info",
        "cpu_ratio",
        "http_requests_total",
        "latency_seconds_bucket",
        "latency_seconds_count",
        "latency_seconds_sum",
        "queue_length",
    ]
    assert store.label_names("latency_seconds_bucket") == ["le", "route"]
    assert store.label_values("http_requests_total", "code") == ["200", "404", "500"]
    assert store.label_values("latency_seconds_bucket", "le") == ["+Inf", "0.1", "0.5", "1"]
    assert store.label_names("no_such_metric") == []
    assert store.label_values("queue_length", "no_such_label") == []


# -- selectors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("selector", "codes"),
    [
        ('http_requests_total{code="500"}', {"500"}),
        ('http_requests_total{code!="500"}', {"200", "404"}),
        ('http_requests_total{code=~"5.."}', {"500"}),
        ('http_requests_total{code=~"5"}', set()),  # regexes are anchored at both ends
        ('http_requests_total{code!~"2.*|4.*"}', {"500"}),
        ('http_requests_total{method="GET", code=~"200|500"}', {"200", "500"}),
        ('{__name__="http_requests_total", method="POST"}', {"404"}),
        ('http_requests_total{zone=""}', {"200", "404", "500"}),  # a missing label equals ""
    ],
)
def test_matchers(store: MetricStore, selector: str, codes: set[str]) -> None:
    result = query_instant(store, selector, at(10))
    assert {series.labels["code"] for series in result} == codes
    for series in result:
        assert series.labels["__name__"] == "http_requests_total"
        code, method = series.labels["code"], series.labels["method"]
        assert series.points == [(at(10), COUNTERS[code, method](10))]


def test_name_regex_selects_across_metrics(store: MetricStore) -> None:
    result = query_instant(store, '{__name__=~"latency_seconds_(count|sum)", route="/a"}', at(4))
    assert [(series.labels["__name__"], series.points[0][1]) for series in result] == [
        ("latency_seconds_count", 40.0),
        ("latency_seconds_sum", 8.0),
    ]
    assert query_instant(store, "no_such_metric", at(4)) == []


def test_range_query_returns_the_samples_at_each_step(store: MetricStore) -> None:
    (series,) = query_range(store, 'queue_length{host="a"}', T0, END, 15)
    assert series.labels == {"__name__": "queue_length", "host": "a"}
    assert series.points == [(at(i), QUEUE["a"](i)) for i in range(SCRAPES)]
    (coarse,) = query_range(store, 'queue_length{host="a"}', T0, END, 60)
    assert coarse.points == [(at(i), QUEUE["a"](i)) for i in range(0, SCRAPES, 4)]


def test_instant_selector_looks_back_five_minutes(store: MetricStore) -> None:
    assert only(store, 'queue_length{host="a"}', at(60) + 7) == QUEUE["a"](60)
    assert only(store, 'queue_length{host="a"}', END + 299) == QUEUE["a"](SCRAPES - 1)
    assert instant(store, 'queue_length{host="a"}', END + 300) == {}  # the window is (t - 5m, t]
    assert instant(store, 'queue_length{host="a"}', T0 - 1) == {}
    (series,) = query_range(store, 'queue_length{host="b"}', END - 30, END + 600, 150)
    assert [time for time, _ in series.points] == [END - 30, END + 120, END + 270]


def test_a_series_missing_from_a_scrape_is_stale_from_that_scrape(store: MetricStore) -> None:
    """Prometheus's staleness markers: no five-minute overlap of the old and the new version."""

    def versions(time: float) -> list[str]:
        return sorted(series.labels["version"] for series in query_instant(store, "build_info", time))

    assert versions(at(DEPLOYED - 1)) == ["1"]
    assert versions(at(DEPLOYED) - 1) == ["1"]  # until the first scrape without it
    assert versions(at(DEPLOYED)) == ["2"]
    assert versions(at(DEPLOYED + 5)) == ["2"]
    assert versions(END + 299) == ["2"]  # no scrape after the last: the lookback holds the newest
    assert only(store, "count(build_info)", at(DEPLOYED) + 7) == 1
    (old,) = query_range(store, 'build_info{version="1"}', at(DEPLOYED - 2), at(DEPLOYED + 2), 15)
    assert [time for time, _ in old.points] == [at(DEPLOYED - 2), at(DEPLOYED - 1)]
    # A range vector still holds the old samples its window covers, as in Prometheus.
    assert only(store, 'count_over_time(build_info{version="1"}[1m])', at(DEPLOYED + 1)) == 2


def test_offset_shifts_the_evaluation_time(store: MetricStore) -> None:
    assert only(store, 'queue_length{host="a"} offset 1m', at(60)) == QUEUE["a"](56)
    assert only(store, 'rate(http_requests_total{code="200"}[5m] offset 5m)', at(60)) == pytest.approx(0.2)


# -- rate, increase, delta, irate -------------------------------------------------------------------------
def test_rate_of_a_steady_counter(store: MetricStore) -> None:
    (series,) = query_range(store, 'rate(http_requests_total{code="200"}[5m])', at(20), at(50), 15)
    assert series.labels == {"code": "200", "method": "GET"}  # functions drop the metric name
    assert [time for time, _ in series.points] == [at(i) for i in range(20, 51)]
    assert [value for _, value in series.points] == pytest.approx([0.2] * 31)


def test_increase_extrapolates_to_the_window_boundaries(store: MetricStore) -> None:
    # 20 samples in (t-5m, t], 285 s apart end to end: 57 counted, extrapolated by 300/285.
    assert only(store, 'increase(http_requests_total{code="200"}[5m])', at(40)) == pytest.approx(60.0)
    # Off-grid: the first sample is 8 s after the window start, the last 7 s before its end, both
    # closer than 1.1 average intervals, so the extrapolation covers the whole window again.
    assert only(store, 'increase(http_requests_total{code="200"}[5m])', at(40) + 7) == pytest.approx(60.0)


def test_increase_near_the_start_of_a_series(store: MetricStore) -> None:
    # Samples at scrapes 0..4 (values 6..18): 60 s sampled, 240 s missing before them, so the start is
    # extrapolated by half an interval (7.5 s); zero would only be reached 30 s back.
    assert only(store, 'increase(http_requests_total{code="200"}[5m])', at(4)) == pytest.approx(
        12 * 67.5 / 60
    )
    # Values 0.5..8.5: the counter would hit zero 3.75 s before the first sample, which caps the
    # extrapolation there.
    assert only(store, 'increase(http_requests_total{code="404"}[5m])', at(4)) == pytest.approx(
        8 * 63.75 / 60
    )


def test_increase_after_a_series_ends(store: MetricStore) -> None:
    # Window (T0+1600, T0+1900]: 14 samples over 195 s, 5 s after the start, 100 s of nothing at the end,
    # so the end is extrapolated by only half an interval.
    value = only(store, 'increase(http_requests_total{code="200"}[5m])', END + 100)
    assert value == pytest.approx(39 * (195 + 5 + 7.5) / 195)


def test_counter_reset(store: MetricStore) -> None:
    # Scrapes 46..65 hold 46..59 then 0..5: 13 + 5 counted, plus the 0 the counter restarted from.
    assert only(store, 'increase(http_requests_total{code="500"}[5m])', at(65)) == pytest.approx(
        18 * 300 / 285
    )
    assert only(store, 'rate(http_requests_total{code="500"}[5m])', at(65)) == pytest.approx(18 / 285)
    assert only(store, 'irate(http_requests_total{code="500"}[1m])', at(60)) == 0.0
    assert only(store, 'irate(http_requests_total{code="500"}[1m])', at(61)) == pytest.approx(1 / 15)
    assert only(store, 'irate(http_requests_total{code="200"}[1m])', at(30)) == pytest.approx(0.2)


def test_delta_of_a_gauge_is_extrapolated_without_reset_handling(store: MetricStore) -> None:
    # Scrapes 57..60 of host a: 1, 2, 3, 4 over 45 s, extrapolated to 60 s.
    assert only(store, 'delta(queue_length{host="a"}[1m])', at(60)) == pytest.approx(4.0)
    # Scrapes 60..63: 4, 5, 6, 0 -- a gauge's drop is a drop.
    assert only(store, 'delta(queue_length{host="a"}[1m])', at(63)) == pytest.approx(-4 * 60 / 45)


def test_a_window_with_one_sample_has_no_rate(store: MetricStore) -> None:
    assert instant(store, 'rate(http_requests_total{code="200"}[15s])', at(30)) == {}
    assert instant(store, 'rate(http_requests_total{code="200"}[5m])', T0) == {}


# -- *_over_time ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("function", "reduce"),
    [
        ("max_over_time", max),
        ("min_over_time", min),
        ("sum_over_time", sum),
        ("avg_over_time", lambda values: sum(values) / len(values)),
        ("count_over_time", len),
    ],
)
def test_over_time_functions(
    store: MetricStore, function: str, reduce: Callable[[list[float]], float]
) -> None:
    (series,) = query_range(store, f'{function}(queue_length{{host="a"}}[1m])', T0, END, 60)
    samples = [QUEUE["a"](i) for i in range(SCRAPES)]
    # A 1m window at scrape k holds scrapes k-3..k: the sample exactly 1m back is excluded.
    steps = range(0, SCRAPES, 4)
    assert series.labels == {"host": "a"}
    assert [time for time, _ in series.points] == [at(k) for k in steps]
    assert [value for _, value in series.points] == pytest.approx(
        [reduce(samples[max(0, k - 3) : k + 1]) for k in steps]
    )


# -- aggregation ------------------------------------------------------------------------------------------
def test_aggregations(store: MetricStore) -> None:
    time = at(60)  # 200/GET: 186, 500/GET: 0 (just reset), 404/POST: 120.5
    assert instant(store, "sum(http_requests_total)", time) == {labels(): 306.5}
    assert instant(store, "sum by (method) (http_requests_total)", time) == {
        labels(method="GET"): 186.0,
        labels(method="POST"): 120.5,
    }
    assert instant(store, "sum without (code) (http_requests_total)", time) == {
        labels(method="GET"): 186.0,
        labels(method="POST"): 120.5,
    }
    assert instant(store, "avg by (method) (http_requests_total)", time) == {
        labels(method="GET"): 93.0,
        labels(method="POST"): 120.5,
    }
    assert instant(store, "max(http_requests_total)", time) == {labels(): 186.0}
    assert instant(store, "min(http_requests_total)", time) == {labels(): 0.0}
    assert instant(store, "count by (method) (http_requests_total)", time) == {
        labels(method="GET"): 2.0,
        labels(method="POST"): 1.0,
    }
    assert instant(store, "sum by (nonexistent) (queue_length)", time) == {labels(): 14.0}


def test_topk_and_bottomk_keep_the_series_labels(store: MetricStore) -> None:
    time = at(60)
    assert instant(store, "topk(1, http_requests_total)", time) == {
        labels(__name__="http_requests_total", code="200", method="GET"): 186.0
    }
    assert instant(store, "bottomk by (method) (1, http_requests_total)", time) == {
        labels(__name__="http_requests_total", code="500", method="GET"): 0.0,
        labels(__name__="http_requests_total", code="404", method="POST"): 120.5,
    }
    assert instant(store, "topk(0, http_requests_total)", time) == {}
    # Over a range each step picks its own top series: the queue (i % 7) beats the CPU (0.5) unless empty.
    cpu, queue = query_range(store, 'topk(1, {__name__=~"queue_length|cpu_ratio", host="a"})', T0, END, 15)
    assert cpu.points == [(at(i), 0.5) for i in range(SCRAPES) if i % 7 == 0]
    assert queue.points == [(at(i), QUEUE["a"](i)) for i in range(SCRAPES) if i % 7 != 0]


# -- histogram_quantile -----------------------------------------------------------------------------------
def test_histogram_quantile_interpolates_within_buckets(store: MetricStore) -> None:
    time = at(60)
    # Per scrape, /a gets 5 observations <= 0.1, 3 in (0.1, 0.5], 2 in (0.5, 1]; /b 1, 1, 4 and 4 above 1.
    # Cumulative counts per scrape: /a 5, 8, 10, 10 and /b 1, 2, 6, 10; the rank is q * 10.
    expected = {
        0.05: {"/a": 0.1 * 0.5 / 5, "/b": 0.1 * 0.5 / 1},  # the first bucket starts at 0
        0.25: {"/a": 0.1 * 2.5 / 5, "/b": 0.5 + 0.5 * 0.5 / 4},
        0.45: {"/a": 0.1 * 4.5 / 5, "/b": 0.5 + 0.5 * 2.5 / 4},
        0.65: {"/a": 0.1 + 0.4 * 1.5 / 3, "/b": 1.0},  # /b's rank lies in +Inf: the highest finite bound
        0.9: {"/a": 0.5 + 0.5 * 1 / 2, "/b": 1.0},
    }
    for q, by_route in expected.items():
        result = instant(store, f"histogram_quantile({q}, rate(latency_seconds_bucket[5m]))", time)
        assert result == {labels(route=route): pytest.approx(value) for route, value in by_route.items()}


def test_histogram_quantile_over_aggregated_buckets(store: MetricStore) -> None:
    # Summed per scrape: 6 <= 0.1, 10 <= 0.5, 16 <= 1, 20 in all; rank 14 lies 4/6 into (0.5, 1].
    expr = "histogram_quantile(0.7, sum by (le) (rate(latency_seconds_bucket[5m])))"
    assert instant(store, expr, at(60)) == {labels(): pytest.approx(0.5 + 0.5 * 4 / 6)}
    (series,) = query_range(store, expr, at(20), at(40), 60)
    assert [value for _, value in series.points] == pytest.approx([0.5 + 0.5 * 4 / 6] * 6)


def test_histogram_quantile_edge_cases(store: MetricStore) -> None:
    time = at(60)
    no_inf = instant(store, 'histogram_quantile(0.5, rate(latency_seconds_bucket{le!="+Inf"}[5m]))', time)
    assert len(no_inf) == 2 and all(math.isnan(value) for value in no_inf.values())
    assert instant(store, "histogram_quantile(2, rate(latency_seconds_bucket[5m]))", time) == {
        labels(route="/a"): math.inf,
        labels(route="/b"): math.inf,
    }
    # Series without an le label are not buckets and are ignored.
    assert instant(store, "histogram_quantile(0.5, rate(latency_seconds_count[5m]))", time) == {}


# -- operators --------------------------------------------------------------------------------------------
def test_error_ratio(store: MetricStore) -> None:
    expr = (
        'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total{method="GET"}[5m]))'
    )
    assert instant(store, expr, at(40)) == {labels(): pytest.approx(0.25)}  # (1/15) / (3/15 + 1/15)
    (series,) = query_range(store, expr, at(20), at(55), 15)
    assert [value for _, value in series.points] == pytest.approx([0.25] * 36)


def test_vector_vector_matching(store: MetricStore) -> None:
    time = at(40)
    mean_latency = "rate(latency_seconds_sum[5m]) / rate(latency_seconds_count[5m])"
    assert instant(store, mean_latency, time) == {
        labels(route="/a"): pytest.approx(0.2),
        labels(route="/b"): pytest.approx(0.6),
    }

    def share(matching: str) -> str:
        errors = 'rate(http_requests_total{code="500"}[5m])'
        return f"{errors} / {matching} sum by (method) (rate(http_requests_total[5m]))"

    assert instant(store, share("ignoring(code)"), time) == {labels(method="GET"): pytest.approx(0.25)}
    assert instant(store, share("on(method)"), time) == {labels(method="GET"): pytest.approx(0.25)}
    assert instant(store, share(""), time) == {}  # label sets differ: nothing matches
    assert instant(store, "queue_length > on(host) cpu_ratio", time) == {
        labels(host="a"): QUEUE["a"](40)  # a filtering comparison keeps the left value; on() its labels
    }


def test_vector_scalar_arithmetic_and_comparisons(store: MetricStore) -> None:
    time = at(60)  # host a: 4, host b: 10
    assert instant(store, "queue_length * 2 - 1", time) == {labels(host="a"): 7.0, labels(host="b"): 19.0}
    assert instant(store, "100 / queue_length", time) == {labels(host="a"): 25.0, labels(host="b"): 10.0}
    assert instant(store, "-queue_length", time) == {labels(host="a"): -4.0, labels(host="b"): -10.0}
    assert instant(store, "queue_length > 5", time) == {labels(__name__="queue_length", host="b"): 10.0}
    assert instant(store, "5 < queue_length", time) == {labels(__name__="queue_length", host="b"): 10.0}
    assert instant(store, "queue_length > bool 5", time) == {labels(host="a"): 0.0, labels(host="b"): 1.0}
    division = instant(store, 'queue_length{host="a"} / 0', at(63))  # host a is 0 here: 0/0
    assert math.isnan(division[labels(host="a")])
    assert instant(store, 'queue_length{host="a"} / 0', time) == {labels(host="a"): math.inf}


def test_scalar_expressions(store: MetricStore) -> None:
    assert query_instant(store, "1 + 2 * (3 - 1)", at(1)) == [Series({}, [(at(1), 5.0)])]
    assert query_instant(store, "2 > bool 1", at(1)) == [Series({}, [(at(1), 1.0)])]
    assert query_range(store, "-1.5", at(0), at(2), 15) == [Series({}, [(at(i), -1.5) for i in range(3)])]


def test_functions_on_instant_vectors(store: MetricStore) -> None:
    time = at(60)
    assert instant(store, "abs(-queue_length)", time) == {labels(host="a"): 4.0, labels(host="b"): 10.0}
    assert instant(store, "clamp_max(queue_length, 5)", time) == {
        labels(host="a"): 4.0,
        labels(host="b"): 5.0,
    }
    assert instant(store, "clamp_min(queue_length, 6)", time) == {
        labels(host="a"): 6.0,
        labels(host="b"): 10.0,
    }
    assert instant(store, "clamp(queue_length, 5, 8)", time) == {labels(host="a"): 5.0, labels(host="b"): 8.0}
    assert instant(store, "clamp(queue_length, 8, 5)", time) == {}  # crossed bounds: no value at all


# Scrapes 5 to 8, the samples in a one-minute window ending at scrape 8, at -45, -30, -15 and 0 s:
# host a has 5, 6, 0, 1 and host b 12, 10, 11, 12.  Least squares by hand (sum x = -90, sum x² = 3150,
# so the x variance term is 3150 - 90²/4 = 1125): host a's covariance term is -405 - (-90 · 12 / 4) =
# -135, a slope of -0.12/s and a value at scrape 8 of 12/4 - 0.12 · 90/4 = 0.3; host b's is
# -1005 - (-90 · 45 / 4) = 7.5, a slope of 1/150 per s and a value of 45/4 + 90/4/150 = 11.4.
def test_deriv_is_the_least_squares_slope(store: MetricStore) -> None:
    assert instant(store, "deriv(queue_length[1m])", at(8)) == {
        labels(host="a"): pytest.approx(-0.12),
        labels(host="b"): pytest.approx(1 / 150),
    }
    assert instant(store, 'deriv(http_requests_total{code="200"}[5m])', at(40)) == {
        labels(code="200", method="GET"): pytest.approx(3 / 15)
    }
    assert instant(store, "deriv(cpu_ratio[5m])", at(40)) == {labels(host="a"): 0.0}  # constant: exactly flat
    # A window holding one sample (15 s, left-open) or none has no slope, as at the first scrape.
    assert instant(store, "deriv(queue_length[15s])", at(8)) == {}
    assert instant(store, "deriv(queue_length[5m])", at(0)) == {}


def test_predict_linear_extrapolates_the_regression_from_the_evaluation_time(store: MetricStore) -> None:
    assert instant(store, "predict_linear(queue_length[1m], 60)", at(8)) == {
        labels(host="a"): pytest.approx(0.3 - 0.12 * 60),
        labels(host="b"): pytest.approx(11.4 + 60 / 150),
    }
    assert only(store, "sum(predict_linear(queue_length[1m], 60))", at(8)) == pytest.approx(-6.9 + 11.8)
    # A counter of 6 + 3 per scrape is 126 at scrape 40 and climbs 0.2/s: 720 more an hour later.
    steady = 'predict_linear(http_requests_total{code="200"}[5m]{offset}, 3600)'
    assert only(store, steady.replace("{offset}", ""), at(40)) == pytest.approx(126 + 720)
    # With an offset the window is older, but the prediction is still an hour after the evaluation
    # time (Prometheus's intercept is at the step, not at the window's end): the same line, 846.
    assert only(store, steady.replace("{offset}", " offset 5m"), at(40)) == pytest.approx(846)
    assert only(store, "predict_linear(cpu_ratio[5m], 86400)", at(40)) == 0.5
    assert instant(store, "predict_linear(queue_length[15s], 60)", at(8)) == {}  # one sample: no line
    (series,) = query_range(
        store, 'predict_linear(http_requests_total{code="200"}[5m], -60)', at(0), at(3), 15
    )
    assert series.points == [(at(i), pytest.approx(6 + 3 * i - 12)) for i in (1, 2, 3)]  # none at scrape 0


def test_absent_gives_the_selectors_equality_labels_only_when_nothing_matches(store: MetricStore) -> None:
    assert instant(store, 'absent(queue_length{host="c", job="x"})', at(8)) == {
        labels(host="c", job="x"): 1.0
    }
    assert instant(store, 'absent(queue_length{host="a"})', at(8)) == {}
    # Neither __name__, nor a regex, nor a label matched twice, nor an empty value becomes a label.
    expr = 'absent({__name__="nope", job="a", job="b", pod=~"p.*", zone="eu", team=""})'
    assert instant(store, expr, at(8)) == {labels(zone="eu"): 1.0}
    assert instant(store, 'absent(sum(nope{job="a"}))', at(8)) == {labels(): 1.0}
    # The new release's series exists from scrape 40: absent only at the steps before it.
    (series,) = query_range(store, 'absent(build_info{version="2"})', at(36), at(42), 15)
    assert series == Series({"version": "2"}, [(at(i), 1.0) for i in range(36, 40)])


def test_absent_over_time_looks_for_any_sample_in_the_window(store: MetricStore) -> None:
    # The old release's last sample is at scrape 39: a one-minute window holds it up to scrape 42.
    (series,) = query_range(store, 'absent_over_time(build_info{version="1"}[1m])', at(38), at(45), 15)
    assert series == Series({"version": "1"}, [(at(i), 1.0) for i in range(43, 46)])
    assert query_range(store, "absent_over_time(queue_length[1m])", T0, END, 60) == []
    assert instant(store, 'absent_over_time(nope{job="x"}[5m])', at(8)) == {labels(job="x"): 1.0}


def test_label_replace_matches_the_whole_value_and_expands_go_templates(store: MetricStore) -> None:
    time = at(60)  # host a: 4, host b: 10
    node = 'label_replace(queue_length, "node", "node-$1", "host", "(.*)")'
    assert instant(store, node, time) == {
        labels(__name__="queue_length", host="a", node="node-a"): 4.0,
        labels(__name__="queue_length", host="b", node="node-b"): 10.0,
    }
    family = r'label_replace(http_requests_total{method="GET"}, "family", "${1}xx", "code", "(\\d)\\d\\d")'
    assert {dict(key)["family"] for key in instant(store, family, time)} == {"2xx", "5xx"}
    # The regex must match the whole value: "" does not match "a", nor "2" or "0" the code "200".
    untouched = instant(store, "queue_length", time)
    assert instant(store, 'label_replace(queue_length, "node", "x", "host", "")', time) == untouched
    codes = instant(store, "http_requests_total", time)
    assert instant(store, 'label_replace(http_requests_total, "code", "x", "code", "2|0")', time) == codes
    # "$1x" is the group named "1x" (none: empty), "$$" a dollar; an empty result removes the label.
    templates = 'label_replace(queue_length{host="a"}, "host", "$1x$$", "host", "(a)")'
    assert instant(store, templates, time) == {labels(__name__="queue_length", host="$"): 4.0}
    removed = 'label_replace(queue_length{host="a"}, "host", "$2", "host", "(a)")'
    assert instant(store, removed, time) == {labels(__name__="queue_length"): 4.0}
    # A missing source label reads as "", which an empty-matching regex matches.
    assert instant(store, 'label_replace(cpu_ratio, "zone", "eu", "missing", "")', time) == {
        labels(__name__="cpu_ratio", host="a", zone="eu"): 0.5
    }
    same = 'label_replace(queue_length, "host", "same", "host", ".*")'
    assert "same labelset" in error(lambda: query_instant(store, same, time)).message
    bad = 'label_replace(queue_length, "node", "x", "host", "(")'
    assert (
        "invalid regular expression in label_replace()"
        in error(lambda: query_instant(store, bad, time)).message
    )


def test_time_is_the_evaluation_time_of_each_step(store: MetricStore) -> None:
    assert query_range(store, "time()", at(0), at(2), 15) == [Series({}, [(at(i), at(i)) for i in range(3)])]
    assert instant(store, "time() - queue_length", at(60)) == {
        labels(host="a"): at(60) - 4,
        labels(host="b"): at(60) - 10,
    }
    (age,) = query_range(store, 'queue_length{host="b"} - time() + 1', at(0), at(2), 15)
    assert age.points == [(at(i), QUEUE["b"](i) - at(i) + 1) for i in range(3)]
    assert only(store, "-time() > bool -time() - 1", at(5)) == 1.0


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("http_requests_total / on(method) http_requests_total", "many-to-many matching not allowed"),
        (
            'http_requests_total{method="GET"} / on(method) sum by (method) (http_requests_total)',
            "many-to-one matching must be explicit",
        ),
        ('abs({__name__=~"queue_length|cpu_ratio", host="a"})', "same labelset"),
    ],
)
def test_ambiguous_matches_are_errors(store: MetricStore, expr: str, message: str) -> None:
    assert message in error(lambda: query_instant(store, expr, at(40))).message


def test_labels_are_written_as_prometheus_writes_them(store: MetricStore) -> None:
    failure = error(
        lambda: query_instant(store, 'abs({__name__=~"queue_length|cpu_ratio", host="a"})', at(40))
    )
    assert failure.message.endswith(': {host="a"}')
    assert (
        format_labels({"b": 'say "hi"\n', "a": "c\\d", "c": "µs"}) == r'{a="c\\d", b="say \"hi\"\n", c="µs"}'
    )


def test_metric_names_no_series_has_are_found_wherever_they_are_selected(store: MetricStore) -> None:
    expr = (
        'sum(rate(http_requests_totl[5m])) / sum(queue_length) + count({__name__="nope"})'
        " + topk(1, -http_requests_totl offset 1m)"
    )
    assert selected_names(parse(expr)) == ["http_requests_totl", "queue_length", "nope", "http_requests_totl"]
    assert unknown_metrics(store, expr) == ["http_requests_totl", "nope"]
    assert (
        unknown_metrics(store, "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[1m])))")
        == []
    )
    assert unknown_metrics(store, "(" * 64 + "queue_lenght" + ")" * 64) == ["queue_lenght"]


# -- guard rails ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (END, T0, 15, "end timestamp must not be before start time"),
        (T0, END, 0, "zero or negative query resolution step"),
        (T0, END, -15, "zero or negative query resolution step"),
        (T0, END, 0.1, "exceeded maximum resolution of 11,000 points"),
        (T0 + 3 * 86_400, T0 + 3 * 86_400 + 60, 15, "more than a day outside the dataset's window"),
        (T0 * 1000, END * 1000, 15_000, "more than a day outside the dataset's window"),
        (math.nan, END, 15, "start must be a finite number"),
    ],
)
def test_range_guard_rails(store: MetricStore, start: float, end: float, step: float, message: str) -> None:
    assert message in error(lambda: query_range(store, "queue_length", start, end, step)).message


def test_guard_rail_limits_are_inclusive(store: MetricStore) -> None:
    assert len(query_range(store, "1", T0, T0 + 11_000, 1)[0].points) == 11_001
    assert query_range(store, "1", T0 - 86_400, T0 - 86_400, 15)[0].points == [(T0 - 86_400, 1.0)]
    assert "outside" in error(lambda: query_instant(store, "queue_length", END + 86_401)).message


@pytest.mark.parametrize("expr", ["", "   \n"])
def test_empty_query(store: MetricStore, expr: str) -> None:
    failure = error(lambda: query_instant(store, expr, at(1)))
    assert failure.message.startswith("empty query")
    assert failure.position == 0


# -- unsupported constructs and syntax errors -------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "position"),
    [
        ("limitk(1, queue_length)", 0),
        ("mad_over_time(queue_length[5m])", 0),
        ("histogram_count(latency_seconds_bucket)", 0),
        ("queue_length + fill(0) cpu_ratio", 15),
        ("rate(http_requests_total[5m])[10m:1m]", 29),
        ("queue_length[5m]", 12),
        ('"hello"', 0),
    ],
)
def test_unsupported_constructs(store: MetricStore, expr: str, position: int) -> None:
    failure = error(lambda: query_range(store, expr, T0, END, 60))
    assert "is not supported" in failure.message
    assert failure.position == position


@pytest.mark.parametrize(
    ("expr", "message", "position"),
    [
        ("sum(rate(queue_length[5m])", "unclosed left parenthesis", 3),
        ("queue_length $ 2", "unexpected character: '$'", 13),
        ("queue_length)", "unexpected right parenthesis", 12),
        ('queue_length{host="a" !}', "unexpected character after '!' inside braces", 23),
        ('queue_length{host="a"', "unexpected end of input inside braces", 21),
        ("queue_length[5x]", "bad number or duration syntax", 14),
        ("foo(queue_length)", "unknown function with name 'foo'", 0),
        ("queue_length + rate(queue_length)", "expected type matrix in call to function 'rate'", 15),
        ('queue_length{host=~"("}', "illegal regex", 19),
        ('queue_length{host="a', "unterminated quoted string", 18),
        ("queue_length +", "invalid promql query", None),
    ],
)
def test_syntax_errors(store: MetricStore, expr: str, message: str, position: int | None) -> None:
    failure = error(lambda: query_instant(store, expr, at(1)))
    assert message in failure.message
    assert failure.position == position


def test_a_parser_panic_is_a_query_error(store: MetricStore) -> None:
    failure = error(lambda: query_instant(store, "queue_length offset Inf", at(1)))
    assert "parser failed" in failure.message


def test_queries_nested_beyond_the_limit_are_refused_before_parsing(store: MetricStore) -> None:
    # 63 parentheses and the selector's braces: 64 levels, the most allowed
    assert only(store, "(" * 63 + "queue_length{host='b'}" + ")" * 63, at(60)) == 10.0
    failure = error(lambda: query_instant(store, "(" * 65 + "1" + ")" * 65, at(1)))
    assert (
        failure.message.startswith("the query nests 65 levels deep") and "the limit is 64" in failure.message
    )


def test_a_query_over_the_points_limit_is_refused_before_reading_samples(
    store: MetricStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(promql_eval, "MAX_QUERY_POINTS", 2 * SCRAPES)
    assert len(query_range(store, "queue_length", T0, END, 15)) == 2  # 2 series at 121 steps: the limit
    failure = error(lambda: query_range(store, "queue_length - queue_length", T0, END, 15))
    assert failure.message.startswith(
        "the query would evaluate 484 points (2 series at 121 steps here); the limit is 242"
    )


def test_bucket_quantiles_merge_equal_bounds_and_handle_empty_histograms() -> None:
    from observability_ui.query.promql_functions import bucket_quantiles

    bounds = [0.5, 1.0, 1.0, math.inf]  # le="1" and le="1.0" are one bucket
    counts = np.array([[2.0, 0.0], [3.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    result = bucket_quantiles(0.5, bounds, counts)
    assert result[0] == pytest.approx(0.5 + 0.5 * (5 - 2) / (6 - 2)) and math.isnan(result[1])
    noisy = np.array([[4.0], [4.0 * (1 - 1e-15)], [8.0]])  # float noise below the previous count
    assert bucket_quantiles(0.5, [1.0, 2.0, math.inf], noisy)[0] == pytest.approx(1.0)
    assert bucket_quantiles(0.1, [-1.0, 2.0, math.inf], np.array([[5.0], [6.0], [6.0]]))[0] == -1.0


# -- the rest of the language: Prometheus's test data (promql/promqltest/testdata) and hand-worked values -
def elements(values: dict[str, float], label: str = "point") -> str:
    """An instant vector of one element per value, labelled ``{label="key"}``, written in PromQL itself
    (vector() and label_replace() joined by ``or``): Prometheus's test data without loading a dataset."""
    return " or ".join(
        f'label_replace(vector({value!r}), "{label}", "{key}", "", "")' for key, value in values.items()
    )


def test_sum_and_avg_are_compensated(store: MetricStore) -> None:
    ten = elements({"a": 2.0, "b": 8.0, "c": 1e100, "d": -1e100})  # aggregators.test, "ten"
    assert only(store, f"sum({ten})", at(1)) == 10.0
    assert only(store, f"avg({ten})", at(1)) == 2.5
    assert only(store, f"sum({elements({'a': math.inf, 'b': 2.0})})", at(1)) == math.inf


@pytest.mark.parametrize(
    ("samples", "expected"),
    [  # functions.test, "Test if very big intermediate values cause loss of detail" and the extremes after it
        ([1, 1e100, 1, -1e100], 0.5),
        ([1e10, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6], 1.6666666666666675e09),
        ([1.78264e50, 0.76342771, 1.9592258, 7.69805412, 458.90154], 3.56528e49),
        ([1.78264e50, 0.76342771, 1.9592258, 2.258e220, 7.69805412, 458.90154], 3.76333333333333e219),
        ([-1.78264e215, 0.76342771, 1.9592258, 2.258e220, 7.69805412, -458.90154], 3.76330362266667e219),
    ],
)
def test_avg_over_time_is_compensated(samples: list[float], expected: float) -> None:
    from observability_ui.query.promql_functions import RANGE_FUNCTIONS, Windows

    timestamps = np.arange(len(samples), dtype=np.float64) * 5
    windows = Windows.of([(timestamps, np.array(samples))], np.array([55.0]), 60.0)
    values, present = RANGE_FUNCTIONS["avg_over_time"](windows)
    assert present.all() and values[0, 0] == pytest.approx(expected, rel=1e-14)
    if samples[:4] == [1, 1e100, 1, -1e100]:
        assert RANGE_FUNCTIONS["sum_over_time"](windows)[0][0, 0] == 2.0


def test_quantile_stddev_stdvar_group_and_count_values(store: MetricStore) -> None:
    # aggregators.test, "Tests for quantile": the NaN sample is the smallest value
    for q, expected in ((0.8, [0.8, 1.6, 2.8, 0.6]), (0.2, [0.2, 0.4, 0.4, math.nan])):
        results = [
            only(store, f"quantile({q}, {elements(dict(zip('abc', values, strict=False)))})", at(1))
            for values in ([0.0, 1.0], [0.0, 1.0, 2.0], [0.0, 1.0, 4.0], [0.0, 1.0, math.nan])
        ]
        assert results == pytest.approx(expected, nan_ok=True)
    assert only(store, "stddev(queue_length)", at(60)) == 3.0  # hosts a and b: 4 and 10
    assert only(store, "stdvar(queue_length)", at(60)) == 9.0
    assert math.isnan(only(store, f"stddev({elements({'a': 1.0, 'b': 2.0, 'c': math.nan})})", at(1)))
    assert instant(store, "group by (method) (http_requests_total)", at(60)) == {
        labels(method="GET"): 1.0,
        labels(method="POST"): 1.0,
    }
    values = {"a": 1.0, "b": 1.0, "c": 2.5, "d": 1e21, "e": -0.0}
    assert instant(store, f'count_values("v", {elements(values)})', at(1)) == {
        labels(v="1"): 2.0,
        labels(v="2.5"): 1.0,
        labels(v="1000000000000000000000"): 1.0,
        labels(v="-0"): 1.0,
    }
    assert instant(store, 'count_values without (code) ("v", http_requests_total)', at(1)) == {
        labels(method="GET", v="9"): 1.0,
        labels(method="GET", v="1"): 1.0,
        labels(method="POST", v="2.5"): 1.0,
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sqrt(vector(16))", 4.0),
        ("sqrt(vector(-1))", math.nan),
        ("ln(vector(0))", -math.inf),
        ("exp(vector(0))", 1.0),
        ("log2(vector(8))", 3.0),
        ("log10(vector(1000))", 3.0),
        ("ceil(vector(1.2))", 2.0),
        ("floor(vector(-1.2))", -2.0),
        ("round(vector(2.5))", 3.0),
        ("round(vector(-2.5))", -2.0),  # ties are rounded up
        ("round(vector(7.3), 5)", 5.0),
        ("round(vector(0.06), 0.1)", 0.1),
        ("sgn(vector(-3))", -1.0),
        ("deg(vector(pi()))", 180.0),
        ("rad(vector(180))", math.pi),
        ("vector(5) % 3", 2.0),
        ("vector(-5) % 3", -2.0),
        ("vector(5) % 0", math.nan),
        ("vector(2) ^ 10", 1024.0),
        ("vector(0) ^ -1", math.inf),
        ("vector(1) atan2 vector(1)", math.pi / 4),
        ("scalar(queue_length)", math.nan),  # two elements
        ('scalar(queue_length{host="b"})', 11.0),
        # 1_700_000_100 is 2023-11-14 22:15:00 UTC, a Tuesday
        (f"hour(vector({T0}))", 22.0),
        (f"minute(vector({T0}))", 15.0),
        (f"day_of_week(vector({T0}))", 2.0),
        (f"day_of_week(vector({T0 + 5 * 86_400}))", 0.0),  # Sunday is 0, as Go's Weekday
        (f"day_of_month(vector({T0}))", 14.0),
        (f"day_of_year(vector({T0}))", 318.0),
        (f"days_in_month(vector({T0}))", 30.0),
        (f"month(vector({T0}))", 11.0),
        (f"year(vector({T0}))", 2023.0),
        ("minute()", 25.0),  # of the evaluation time: scrape 40 is 10 minutes later
    ],
)
def test_elementwise_functions(store: MetricStore, expr: str, expected: float) -> None:
    value = query_instant(store, expr, at(40))[0].points[0][1]
    assert value == pytest.approx(expected, nan_ok=True, rel=1e-15)


def test_functions_drop_the_metric_name_but_last_over_time_keeps_it(store: MetricStore) -> None:
    time = at(60) + 7  # between scrapes
    assert instant(store, 'ln(queue_length{host="b"})', time) == {labels(host="b"): math.log(10)}
    assert instant(store, 'timestamp(queue_length{host="b"})', time) == {labels(host="b"): at(60)}
    assert instant(store, 'timestamp(-queue_length{host="b"})', time) == {labels(host="b"): time}
    assert instant(store, 'last_over_time(queue_length{host="b"}[1m])', time) == {
        labels(__name__="queue_length", host="b"): 10.0
    }
    assert instant(store, 'present_over_time(queue_length{host="b"}[1m])', time) == {labels(host="b"): 1.0}
    assert instant(store, "count by (__name__) (last_over_time(queue_length[1m]))", time) == {
        labels(__name__="queue_length"): 2.0
    }


def test_changes_resets_and_window_statistics(store: MetricStore) -> None:
    # A 1m window at scrape 60 holds scrapes 57..60: host a's queue is 1, 2, 3, 4.
    assert only(store, 'changes(queue_length{host="a"}[1m])', at(60)) == 3.0
    assert only(store, 'resets(http_requests_total{code="500"}[30m])', END) == 1.0
    assert only(store, 'resets(http_requests_total{code="200"}[30m])', END) == 0.0
    assert only(store, "changes(cpu_ratio[5m])", at(60)) == 0.0
    assert only(store, 'quantile_over_time(0.5, queue_length{host="a"}[1m])', at(60)) == 2.5
    assert only(store, 'stdvar_over_time(queue_length{host="a"}[1m])', at(60)) == pytest.approx(1.25)
    assert only(store, 'stddev_over_time(queue_length{host="a"}[1m])', at(60)) == pytest.approx(1.25**0.5)


def test_set_operators_match_per_step(store: MetricStore) -> None:
    time = at(60)
    assert instant(store, 'http_requests_total and on(method) http_requests_total{code="404"}', time) == {
        labels(__name__="http_requests_total", code="404", method="POST"): 120.5
    }
    assert instant(store, "http_requests_total unless on(method) http_requests_total{code='404'}", time) == {
        labels(__name__="http_requests_total", code="200", method="GET"): 186.0,
        labels(__name__="http_requests_total", code="500", method="GET"): 0.0,
    }
    assert instant(store, 'queue_length{host="a"} or cpu_ratio or queue_length', time) == {
        labels(__name__="queue_length", host="a"): 4.0,
        labels(__name__="queue_length", host="b"): 10.0,
    }
    # Per step: the CPU series only where host a's queue is above 3 (i % 7 in 4, 5, 6).
    (cpu,) = query_range(store, "cpu_ratio and on(host) queue_length > 3", T0, END, 15)
    assert [time for time, _ in cpu.points] == [at(i) for i in range(SCRAPES) if i % 7 > 3]
    # `or on()` adds the right side wherever the left has nothing at all.
    filled = query_range(store, "(cpu_ratio and on(host) queue_length > 3) or on() vector(0)", T0, END, 15)
    assert [series.labels for series in filled] == [{}, {"__name__": "cpu_ratio", "host": "a"}]
    assert filled[0].points == [(at(i), 0.0) for i in range(SCRAPES) if i % 7 <= 3]
    assert filled[1].points == cpu.points


def test_group_left_copies_labels_from_the_one_side_at_each_step(store: MetricStore) -> None:
    # build_info is version 1 until the release at scrape DEPLOYED, version 2 from then on.
    expr = 'queue_length{host="b"} * on() group_left(version) build_info'
    old, new = query_range(store, expr, T0, END, 15)
    assert old.labels == {"host": "b", "version": "1"} and new.labels == {"host": "b", "version": "2"}
    assert old.points == [(at(i), QUEUE["b"](i)) for i in range(DEPLOYED)]
    assert new.points == [(at(i), QUEUE["b"](i)) for i in range(DEPLOYED, SCRAPES)]
    right = 'build_info * on() group_right queue_length{host="b"}'
    assert instant(store, right, at(60)) == {labels(host="b"): 10.0}
    kept = 'build_info > on() group_right queue_length{host="b"}'  # a filter keeps the left value
    assert instant(store, kept, at(60)) == {}
    assert instant(store, 'build_info < on() group_right queue_length{host="b"}', at(60)) == {
        labels(__name__="queue_length", host="b"): 1.0
    }
    duplicate = error(
        lambda: query_instant(store, "queue_length * on() group_left http_requests_total", at(60))
    )
    assert (
        "many-to-many matching not allowed: matching labels must be unique on one side" in duplicate.message
    )
    both = '{__name__=~"queue_length|cpu_ratio", host="a"} * on() group_left build_info'  # both {host="a"}
    collision = error(lambda: query_instant(store, both, at(60)))
    assert "multiple matches for labels: grouping labels must ensure unique matches" in collision.message


def test_subqueries_evaluate_at_multiples_of_their_step(store: MetricStore) -> None:
    # At scrape 60 (T0 + 900 s, T0 a multiple of 60), [10m:1m] evaluates at T0 + 360 ... T0 + 900:
    # scrapes 24, 28, ..., 60, whose queue on host a is 3, 0, 4, 1, 5, 2, 6, 3, 0, 4.
    assert only(store, 'sum_over_time(queue_length{host="a"}[10m:1m])', at(60)) == 28.0
    assert only(store, 'max_over_time(queue_length{host="a"}[10m:])', at(60)) == 6.0  # default step 1m
    assert only(store, 'count_over_time(queue_length{host="a"}[10m:1m] offset 1m)', at(60)) == 10.0
    assert only(store, 'rate((http_requests_total{code="200"}[5m]))', at(60)) == pytest.approx(0.2)
    nested = 'max_over_time(rate(http_requests_total{code="200"}[1m])[10m:30s])'
    assert only(store, nested, at(60)) == pytest.approx(0.2)
    # A range query gives at each step what an instant query gives at that time.
    expr = 'avg_over_time(deriv(queue_length{host="a"}[2m])[5m:45s])'
    (series,) = query_range(store, expr, at(30), at(90), 60)
    assert series.points == [(time, only(store, expr, time)) for time, _ in series.points]


def test_the_at_modifier_fixes_the_evaluation_time(store: MetricStore) -> None:
    (series,) = query_range(store, f'queue_length{{host="a"}} @ {at(30)}', T0, END, 60)
    assert {value for _, value in series.points} == {QUEUE["a"](30)}
    (start,) = query_range(store, 'queue_length{host="a"} @ start()', at(30), END, 60)
    (end,) = query_range(store, 'queue_length{host="a"} @ end() offset 15s', at(30), at(90), 60)
    assert {value for _, value in start.points} == {QUEUE["a"](30)}
    assert {value for _, value in end.points} == {QUEUE["a"](89)}
    assert only(store, f'increase(http_requests_total{{code="200"}}[1m] @ {at(60)})', END) == pytest.approx(
        12.0
    )
    assert only(store, f'sum_over_time(queue_length{{host="a"}}[10m:1m] @ {at(60)})', END) == 28.0
    # predict_linear predicts from the evaluation time, wherever @ put the window: 186 + 0.2/s * (900 + 60) s.
    fixed = f'predict_linear(http_requests_total{{code="200"}}[5m] @ {at(60)}, 60)'
    assert only(store, fixed, END) == pytest.approx(186 + 0.2 * (END + 60 - at(60)))
    # Inside a subquery, end() is still the query's end (scrape 90), not the subquery's last step (88).
    (inner,) = query_range(
        store, 'max_over_time((queue_length{host="a"} @ end())[10m:1m])', at(30), at(90), 60
    )
    assert {value for _, value in inner.points} == {QUEUE["a"](90)}
    too_fine = error(lambda: query_range(store, "max_over_time(cpu_ratio[2d:1s])", T0, END, 60))
    assert "subquery would evaluate its expression" in too_fine.message and too_fine.position == 23


def test_sort_topk_and_bottomk_keep_prometheus_order_in_instant_queries(store: MetricStore) -> None:
    time = at(60)  # 200/GET: 186, 500/GET: 0, 404/POST: 120.5

    def values(expr: str) -> list[float]:
        return [series.points[0][1] for series in query_instant(store, expr, time)]

    assert values("sort(http_requests_total)") == [0.0, 120.5, 186.0]
    assert values("sort_desc(http_requests_total)") == [186.0, 120.5, 0.0]
    assert values("topk(3, http_requests_total)") == [186.0, 120.5, 0.0]
    assert values("bottomk(2, http_requests_total)") == [0.0, 120.5]
    nan_last = f"sort({elements({'a': math.nan, 'b': 2.0, 'c': 1.0})})"
    assert values(nan_last)[:2] == [1.0, 2.0] and math.isnan(values(nan_last)[2])


def test_label_join_and_parenthesised_string_arguments(store: MetricStore) -> None:
    joined = 'label_join(http_requests_total{code="404"}, "id", "-", "method", "code", "missing")'
    assert instant(store, joined, at(1)) == {
        labels(__name__="http_requests_total", code="404", method="POST", id="POST-404-"): 2.5
    }
    # functions.test: label_replace((((testmetric))), (("dst")), ...) is label_replace(testmetric, "dst", ...)
    replaced = 'label_replace(((cpu_ratio)), (("dst")), (("v-$1")), (("host")), (("(.*)")))'
    assert instant(store, replaced, at(1)) == {labels(__name__="cpu_ratio", host="a", dst="v-a"): 0.5}
    assert (
        "invalid destination label name"
        in error(lambda: query_instant(store, 'label_join(cpu_ratio, "", "-", "host")', at(1))).message
    )


def test_sums_over_time_of_whole_numbers_take_prefix_sums_with_the_same_result() -> None:
    from observability_ui.query.promql_functions import RANGE_FUNCTIONS, Windows, window_terms
    from observability_ui.query.promql_reduce import compensated_mean, compensated_sum

    timestamps = np.arange(40, dtype=np.float64) * 15
    counts = np.array([float((7 * i) % 11 * 1000 + i) for i in range(40)])
    ends = timestamps[8:] + 7  # each window holds 8 samples
    windows = Windows.of([(timestamps, counts), (timestamps, -counts)], ends, 120.0)
    for name, reduce in (("sum_over_time", compensated_sum), ("avg_over_time", compensated_mean)):
        values, present = RANGE_FUNCTIONS[name](windows)
        expected, number = reduce(window_terms(windows), windows.lo.shape)
        assert present.all() and (number == 8).all()
        assert values.tolist() == expected.tolist()


def test_parameters_may_change_with_time(store: MetricStore) -> None:
    # Host a's queue is i % 7 at scrape i: a k of i % 7 - 3 picks up to three of the three counters.
    topk = query_range(store, 'topk(scalar(queue_length{host="a"}) - 3, http_requests_total)', T0, END, 15)
    picked = [sum(1 for series in topk for time, _ in series.points if time == at(i)) for i in range(SCRAPES)]
    assert picked == [min(max(i % 7 - 3, 0), 3) for i in range(SCRAPES)]
    # q of (i % 7) / 6: the smallest counter where it is 0, the largest where it is 1.
    (median,) = query_range(
        store, 'quantile(scalar(queue_length{host="a"}) / 6, http_requests_total)', T0, END, 15
    )
    values = dict(median.points)
    for i in range(SCRAPES):
        counters = [value(i) for value in COUNTERS.values()]
        if i % 7 in (0, 6):
            assert values[at(i)] == (min(counters) if i % 7 == 0 else max(counters))
    (bounded,) = query_range(store, 'clamp(cpu_ratio, scalar(queue_length{host="a"}), 3)', T0, END, 15)
    assert bounded.points == [
        (at(i), max(i % 7, 0.5)) for i in range(SCRAPES) if i % 7 <= 3
    ]  # crossed above 3
    (rounded,) = query_range(store, 'round(queue_length{host="b"}, time() - time() + 4)', T0, END, 15)
    assert rounded.points == [(at(i), 4.0 * math.floor(QUEUE["b"](i) / 4 + 0.5)) for i in range(SCRAPES)]
    # 200/GET is 6 + 3i, a slope of 0.2/s: predicted i % 7 seconds ahead, and as a 1m window's top or bottom.
    ahead = 'predict_linear(http_requests_total{code="200"}[5m], scalar(queue_length{host="a"}))'
    (predicted,) = query_range(store, ahead, at(30), END, 15)
    assert [value for _, value in predicted.points] == pytest.approx(
        [6 + 3 * i + 0.2 * (i % 7) for i in range(30, SCRAPES)]
    )
    extreme = 'quantile_over_time(scalar(queue_length{host="a"}) / 6, http_requests_total{code="200"}[1m])'
    (window,) = query_range(store, extreme, at(30), END, 15)
    for time, value in window.points:
        i = round((time - T0) / 15)
        if i % 7 in (0, 6):
            assert value == (6 + 3 * (i - 3) if i % 7 == 0 else 6 + 3 * i)
    varying = 'histogram_quantile(scalar(queue_length{host="a"}) / 6, sum by (le) (rate(latency_seconds_bucket[1m])))'
    (quantiles,) = query_range(store, varying, at(10), END, 15)
    for time, value in quantiles.points:
        fixed = varying.replace(
            'scalar(queue_length{host="a"}) / 6', repr(QUEUE["a"](round((time - T0) / 15)) / 6)
        )
        assert value == only(store, fixed, time)


INF = math.inf


@pytest.mark.parametrize(
    ("lower", "upper", "bounds", "counts", "expected"),
    [  # histograms.test, "Test histogram_fraction" and the cases after it (at 50m)
        (0, 4, [0, 2, 4, 6, INF], [0, 10, 20, 30, 30], 0.6666666666666666),
        (0, 6, [0, 2, 4, 6, INF], [0, 10, 20, 30, 30], 1.0),
        (0, 3.5, [0, 2, 4, 6, INF], [0, 10, 20, 30, 30], 0.5833333333333334),
        (0, 0.2, [0, 0.1, 0.2, 1, INF], [0, 50, 70, 110, 110], 0.6363636363636364),
        (0, 1.5, [1, 2, 3, INF], [1, 3, 6, 100], 0.02),
        (-4, -2, [-3, -2, -1, INF], [10, 12, 15, 100], 0.02),
        (-INF, -1.5, [-3, -2, -1, INF], [10, 12, 15, 100], 0.135),
        (-INF, INF, [1, 2, 3, INF], [1, 3, 6, 100], 1.0),
        (-INF, INF, [-3, -2, -1, INF], [10, 12, 15, 100], 1.0),
        (4, 5, [1, 2, 3, INF], [1, 3, 6, 100], 0.0),
        (0, 1, [-3, -2, -1, INF], [10, 12, 15, 100], 0.0),
        (2, 5, [1, 2, 3, INF], [1, 3, 6, 100], 0.03),
        (400, INF, [1, 2, 3, INF], [1, 3, 6, 100], 0.94),
    ],
)
def test_bucket_fraction(
    lower: float, upper: float, bounds: list[float], counts: list[float], expected: float
) -> None:
    from observability_ui.query.promql_functions import bucket_fraction

    assert bucket_fraction(lower, upper, bounds, counts) == expected


def test_histogram_fraction_and_first_over_time(store: MetricStore) -> None:
    # Per scrape /a observes 5, 3, 2, 0 into le 0.1, 0.5, 1, +Inf and /b 1, 1, 4, 4.
    assert instant(store, "histogram_fraction(0, 0.1, latency_seconds_bucket)", at(60)) == {
        labels(route="/a"): 0.5,
        labels(route="/b"): 0.1,
    }
    assert only(
        store, 'histogram_fraction(0.1, 0.3, rate(latency_seconds_bucket{route="/b"}[5m]))', at(60)
    ) == (pytest.approx(0.5 * 1 / 10))
    assert math.isnan(
        only(store, 'histogram_fraction(0, 1, latency_seconds_bucket{le!="+Inf", route="/a"})', at(60))
    )
    # A 1m window at scrape 60 holds scrapes 57..60: host a's queue is 1, 2, 3, 4.
    assert instant(store, 'first_over_time(queue_length{host="a"}[1m])', at(60)) == {
        labels(__name__="queue_length", host="a"): 1.0
    }


@pytest.fixture(scope="module")
def reset_counter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricStore]:
    """functions.test's testcounter_reset_middle_total: 0+10x4 0+10x5, every 5 minutes from T0."""
    writer = DatasetWriter(tmp_path_factory.mktemp("reset") / "ds")
    sid = writer.series_id(
        "testcounter_reset_middle", "counter", "help", "testcounter_reset_middle_total", {}
    )
    values = [0, 10, 20, 30, 40, 0, 10, 20, 30, 40, 50]
    writer.add_samples([(sid, T0 + 300 * i, float(value)) for i, value in enumerate(values)])
    path = writer.finish({"scenario": "promql-test", "window_start": T0, "window_end": T0 + 3000})
    with Dataset.open(path) as dataset:
        yield MetricStore(dataset)


@pytest.mark.parametrize(
    ("minutes", "expr", "expected"),
    [  # functions.test, "predict_linear should return correct result" (times relative to T0)
        (50, "predict_linear(testcounter_reset_middle_total[50m], 3600)", 70.0),
        (50, "predict_linear(testcounter_reset_middle_total[50m], 1h)", 70.0),
        (50, "predict_linear(testcounter_reset_middle_total[55m] @ {at}, 3600)", 76.81818181818181),
        (10, "predict_linear(testcounter_reset_middle_total[55m] @ {at}, 3600)", 51.36363636363637),
        (70, "predict_linear(testcounter_reset_middle_total[55m] @ {at}, 3600)", 89.54545454545455),
    ],
)
def test_predict_linear_from_prometheus_test_data(
    reset_counter: MetricStore, minutes: int, expr: str, expected: float
) -> None:
    query = expr.format(at=repr(T0 + 3000))
    assert only(reset_counter, query, T0 + 60 * minutes) == pytest.approx(expected, rel=1e-12)


def test_answers_are_kept_per_dataset_within_a_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many candidates ask one dataset the same queries: each is evaluated once, and what is kept
    stays within its bound, least recently used answers dropped first, the largest never kept."""
    a, b = 'queue_length{host="a"}', 'queue_length{host="b"}'
    with Dataset.open(_write(tmp_path / "ds")) as dataset:
        cache = MetricCache()
        first = query_range(MetricStore(dataset, cache), a, T0, END, 15)
        assert query_range(MetricStore(dataset, cache), a, T0, END, 15) is first, "kept, not evaluated again"
        assert cache.result_points == SCRAPES + 1
        monkeypatch.setattr(promql_store, "RESULT_POINTS", SCRAPES + 1)
        query_range(MetricStore(dataset, cache), b, T0, END, 15)
        kept_key = ("range", b, round(T0 * 1000), round(END * 1000), 15_000)  # times in whole milliseconds
        assert list(cache.results) == [kept_key] and cache.result_points == SCRAPES + 1
        again = query_range(MetricStore(dataset, cache), a, T0, END, 15)
        assert again is not first and again == first, "evaluated again, to the same answer"
        monkeypatch.setattr(promql_store, "LARGEST_RESULT_POINTS", 10)
        query_range(MetricStore(dataset, cache), a, T0, END, 60)
        assert ("range", a, round(T0 * 1000), round(END * 1000), 60_000) not in cache.results


def test_an_increase_counts_its_own_series_resets_whatever_is_read_with_it():
    """Windows copy only the samples some window holds, and a counter's increase adds the resets
    inside its window alone: the answer is the same to the bit read alone or with other series
    (empty ones first, in the middle or last; one with large values; one past every window)."""
    times = np.arange(0.0, 600.0, 15.0)
    counter = np.cumsum(np.full(len(times), 3.25))
    counter[20:] -= counter[19] - 1.5  # the process restarted: the counter starts again near 0
    large = counter + 1e9
    empty = (np.zeros(0), np.zeros(0))
    later = (times + 5000.0, counter)
    ends = np.array([240.0, 310.0, 330.0, 450.0, 599.0])
    increase = extrapolated_rate(is_counter=True, is_rate=False)
    alone, present = increase(Windows.of([(times, counter)], ends, 120.0))
    assert present.all() and (alone[0] > 0).all(), "the window across the restart still counts up"
    for others in ([empty], [(times, large), empty], [empty, later, (times, large)]):
        for place in (0, len(others)):
            series = [*others[:place], (times, counter), *others[place:]]
            values, _ = increase(Windows.of(series, ends, 120.0))
            assert values[place].tolist() == alone[0].tolist(), (len(others), place)
        trailing, _ = increase(Windows.of([(times, counter), *others], ends, 120.0))
        assert trailing[0].tolist() == alone[0].tolist()
