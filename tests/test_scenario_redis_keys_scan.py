"""redis-keys-scan: KEYS on the shared Redis slows every endpoint from 14:10; the fix removes it.

Every figure is read from the run's OpenMetrics and JSON-lines exports, as an outside tool would
read them (independent of ``obsim/symptom_figures.py``).  Only this scenario's two runs are exported here,
so these tests never start the other scenarios' generation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics, read_logs

pytestmark = pytest.mark.slow

RUN, FIXED = "redis-keys-scan", "redis-keys-scan-fixed"
BEFORE = (datetime(2026, 3, 11, 14, 0, tzinfo=UTC), datetime(2026, 3, 11, 14, 10, tzinfo=UTC))
AFTER = (datetime(2026, 3, 11, 14, 15, tzinfo=UTC), datetime(2026, 3, 11, 14, 30, tzinfo=UTC))
ONSET = datetime(2026, 3, 11, 14, 10, tzinfo=UTC)
BUCKETS = "http_server_request_duration_seconds_bucket"
HEALTHY_P95 = 0.075  # seconds, a histogram bound: the whole API's p95 without the fault


@pytest.fixture(scope="module")
def exported(datasets, tmp_path_factory) -> dict[str, tuple[Metrics, list[dict]]]:
    root = tmp_path_factory.mktemp("redis-keys-scan-exports")
    out = {}
    for name in (RUN, FIXED):
        with Dataset.open(datasets[name]) as dataset:
            EXPORTERS["openmetrics"](dataset, root / f"{name}.om")
            EXPORTERS["jsonl"](dataset, root / f"{name}.jsonl")
        out[name] = (Metrics.parse(root / f"{name}.om"), read_logs(root / f"{name}.jsonl"))
    return out


def _minutes(stretch: tuple[datetime, datetime]) -> set[int]:
    return set(range(int(stretch[0].timestamp() // 60), int(stretch[1].timestamp() // 60)))


def p95(m: Metrics, stretch: tuple[datetime, datetime], route: str | None = None) -> float:
    """p95 of the requests in ``stretch`` (of one route, or all) from the latency histogram: the
    upper bound of the bucket that holds the 95th percentile, without interpolation."""
    minutes = _minutes(stretch)
    bounds = {float(dict(key)["le"]) for name, key in m.series if name == BUCKETS}

    def count(bound: float) -> float:
        increases = m.increase_per_minute(
            BUCKETS, lambda lb: float(lb["le"]) == bound and route in (None, lb["http_route"])
        )
        return sum(v for minute, v in increases.items() if minute in minutes)

    counts = {bound: count(bound) for bound in bounds}
    return min(bound for bound, n in counts.items() if n >= 0.95 * counts[float("inf")])


def _slowlog(logs: list[dict]) -> list[dict]:
    return [record for record in logs if record["service"] == "redis"]


def test_every_endpoint_slows_down_at_once_while_the_database_idles(exported):
    m, _ = exported[RUN]
    # Over every route the p95 reaches into the calls that wait on a provider (a workflow's creation
    # on the validation service, an invoice payment on the payment gateway: 0.1-0.7 s at their p95);
    # the reads that Redis slows take about 10 ms before the onset.
    assert p95(m, BEFORE) <= HEALTHY_P95
    assert p95(m, AFTER) >= 0.25  # the histogram bucket holding p95: above 100 ms
    for route in (
        "/api/v1/workflows/<int:workflow_id>",
        "/api/v1/users/<int:user_id>",
        "/api/v1/data/records",
    ):
        assert p95(m, BEFORE, route) <= 0.025, route
        assert p95(m, AFTER, route) >= 0.1, route
    assert p95(m, AFTER, "/health") <= 0.005  # no authentication, no Redis: unaffected
    assert max(v for _, v in m.gauge("db_client_connection_count", db_client_connection_state="used")) <= 6
    assert max(v for _, v in m.gauge("system_cpu_utilization_ratio", host_name="db-1")) < 0.15
    assert m.server_error_share() < 0.01


def test_redis_works_on_keys_and_queues_everything_else(exported):
    m, logs = exported[RUN]
    after = _minutes(AFTER)

    def per_call(cmd: str) -> float:
        seconds = m.increase_per_minute("redis_commands_duration_seconds_total", lambda lb: lb["cmd"] == cmd)
        calls = m.increase_per_minute("redis_commands_total", lambda lb: lb["cmd"] == cmd)
        return sum(seconds[x] for x in after) / sum(calls[x] for x in after)

    assert 0.15 <= per_call("keys") <= 0.25
    assert per_call("set") < 1e-5
    assert min(v for _, v in m.gauge("redis_db_keys")) >= 1_000_000
    slow = _slowlog(logs)
    assert len(slow) >= 800
    assert all(r["message"].startswith("slowlog: KEYS session:") for r in slow)
    assert all(r["duration_us"] >= 150_000 for r in slow)
    assert min(datetime.fromisoformat(r["started_at"]) for r in slow) >= ONSET


def test_the_fix_removes_the_slowdown_and_keeps_the_app_healthy(exported):
    broken, _ = exported[RUN]
    fixed, logs = exported[FIXED]
    assert p95(fixed, AFTER) <= HEALTHY_P95
    assert p95(fixed, AFTER, "/api/v1/users/<int:user_id>") <= 0.025
    assert _slowlog(logs) == []
    assert fixed.total_requests() >= 0.99 * broken.total_requests()
    assert fixed.server_error_share() < 0.01
    sessions = fixed.increase_per_minute(
        "http_server_request_duration_seconds_count",
        lambda lb: lb["http_route"] == "/api/v1/sessions" and lb["http_response_status_code"] == "200",
    )
    assert sum(sessions.values()) >= 500  # the Active sessions page is still served
