"""retry-storm: immediate payment retries hold every web worker thread, and the reference fix
(timeout, back-off with jitter, circuit breaker) keeps the rest of the API serving.

Figures are read from the OpenMetrics export, as an outside tool would read them.  Only this
scenario's two runs are exported here: the session-wide ``metrics`` fixture exports every run in
``RUNS``, which would generate all the other scenarios too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics

pytestmark = pytest.mark.slow

ONSET = datetime(2026, 3, 12, 9, 20, tzinfo=UTC).timestamp()  # the payment gateway degrades
SETTLED = ONSET + 5 * 60  # the worker threads have been full for a few minutes
COLLAPSED = ONSET + 11 * 60  # every queued request now waits longer than the load balancer's 30 s
WEB_THREADS = 64


@pytest.fixture(scope="module")
def runs(datasets, tmp_path_factory) -> dict[str, Metrics]:
    root = tmp_path_factory.mktemp("retry-storm")
    out = {}
    for name in ("retry-storm", "retry-storm-fixed"):
        path = root / f"{name}.om"
        with Dataset.open(datasets[name]) as dataset:
            EXPORTERS["openmetrics"](dataset, path)
        out[name] = Metrics.parse(path)
    return out


def _between(points: list[tuple[float, float]], start: float, end: float = float("inf")) -> list[float]:
    return [value for ts, value in points if start <= ts < end]


def _per_minute(m: Metrics, name: str, **labels: str) -> dict[int, float]:
    return m.increase_per_minute(name, lambda found: all(found.get(k) == v for k, v in labels.items()))


def _mean(per_minute: dict[int, float], start: float, end: float) -> float:
    minutes = range(int(start // 60), int(end // 60))
    return sum(per_minute.get(m, 0.0) for m in minutes) / len(minutes)


def _gateway_share(m: Metrics, code_prefix: str, start: float, end: float) -> float:
    """Share of the gateway's answers to clients in [start, end) whose status starts with ``code_prefix``."""
    minutes = set(range(int(start // 60), int(end // 60)))
    total = matching = 0.0
    for (name, key), points in m.series.items():
        if name != "gateway_responses_total":
            continue
        previous = 0.0
        for ts, value in points:
            if int(ts // 60) - (1 if ts % 60 == 0 else 0) in minutes:
                total += value - previous
                if dict(key)["code"].startswith(code_prefix):
                    matching += value - previous
            previous = value
    return matching / total


def test_retry_storm_fills_every_worker_thread_while_the_database_idles(runs):
    m = runs["retry-storm"]
    busy = m.gauge("webserver_threads_busy")
    end = busy[-1][0] + 1
    assert max(_between(busy, 0, ONSET)) <= 10
    assert min(_between(busy, SETTLED)) == WEB_THREADS
    queue = m.gauge("webserver_request_queue_length")
    assert max(_between(queue, 0, ONSET)) == 0
    assert max(_between(queue, SETTLED)) >= 1000
    assert min(_between(queue, COLLAPSED)) >= 300
    # What clients see: from every route, answers from the load balancer itself (504).
    assert _gateway_share(m, "2", ONSET - 10 * 60, ONSET) >= 0.95
    assert _gateway_share(m, "50", COLLAPSED, end) >= 0.95
    # The database is not the bottleneck.
    assert max(v for _, v in m.gauge("system_cpu_utilization_ratio", host_name="db-1")) < 0.2
    used = m.gauge("db_client_connection_count", db_client_connection_state="used")
    assert max(v for _, v in used) <= 10


def test_retry_storm_multiplies_the_calls_to_the_payment_gateway(runs):
    m = runs["retry-storm"]
    calls = _per_minute(m, "http_client_request_duration_seconds_count", peer_service="payment-gateway")
    before = _mean(calls, ONSET - 10 * 60, ONSET)
    after = _mean(calls, SETTLED, SETTLED + 15 * 60)
    assert after >= 3 * before, (before, after)


def test_retry_storm_fix_keeps_the_api_serving(runs):
    broken, fixed = runs["retry-storm"], runs["retry-storm-fixed"]
    end = max(ts for ts, _ in fixed.gauge("webserver_threads_busy")) + 1
    assert max(v for _, v in fixed.gauge("webserver_threads_busy")) <= WEB_THREADS / 2
    assert max(v for _, v in fixed.gauge("webserver_request_queue_length")) <= 5
    assert _gateway_share(fixed, "2", SETTLED, end) >= 0.85
    assert fixed.total_requests() >= 1.05 * broken.total_requests()
    # Checkouts fail fast during the outage; nothing else fails.
    errors = fixed.increase_per_minute(
        "http_server_request_duration_seconds_count",
        lambda labels: (
            labels["http_response_status_code"].startswith("5") and "billing" not in labels["http_route"]
        ),
    )
    assert sum(errors.values()) <= 0.01 * fixed.total_requests()
    calls = _per_minute(fixed, "http_client_request_duration_seconds_count", peer_service="payment-gateway")
    assert _mean(calls, SETTLED, end) <= 1.5 * _mean(calls, ONSET - 10 * 60, ONSET)
