"""The founding incidents emerge from the buggy code, and their reference fixes remove them.

Every figure is read from the OpenMetrics export, as an outside tool would read it.
"""

from __future__ import annotations

import pytest

from tests.exported import Metrics

pytestmark = pytest.mark.slow


def _saturated_runs(points: list[tuple[float, float]], maximum: float) -> list[list[float]]:
    runs: list[list[float]] = []
    current: list[float] = []
    for ts, value in points:
        if value >= maximum:
            current.append(ts)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def test_cron_storm_stalls_every_top_of_the_hour(metrics):
    ratios = metrics["cron-storm"].hourly_ratios()
    assert len(ratios) >= 3, ratios
    assert all(r >= 10 for r in ratios.values()), ratios


def test_cron_storm_fix_removes_the_stalls_without_breaking_the_app(metrics):
    broken, fixed = metrics["cron-storm"], metrics["cron-storm-fixed"]
    ratios = fixed.hourly_ratios()
    assert len(ratios) >= 3
    assert all(r < 2 for r in ratios.values()), ratios
    assert fixed.total_requests() >= 0.9 * broken.total_requests()
    assert fixed.server_error_share() < 0.01


def test_connection_leak_exhausts_the_pool_while_the_database_idles(metrics):
    m: Metrics = metrics["connection-leak"]
    used = m.gauge("db_client_connection_count", db_client_connection_state="used")
    maximum = max(v for _, v in m.gauge("db_client_connection_max"))
    assert maximum == 200
    runs = _saturated_runs(used, maximum)
    longest = max(runs, key=len)
    assert longest[-1] - longest[0] >= 5 * 60, "pool not saturated for 5 consecutive minutes"
    idle_in_tx = m.gauge("pg_stat_activity_count", state="idle in transaction")
    assert max(v for _, v in idle_in_tx) >= 150
    saturated_minutes = {int(ts // 60) for ts in longest}
    assert m.server_error_share(saturated_minutes) >= 0.2
    db_cpu = m.gauge("system_cpu_utilization_ratio", host_name="db-1")
    assert max(v for _, v in db_cpu) < 0.5


def test_connection_leak_fix_keeps_the_pool_healthy(metrics):
    broken, fixed = metrics["connection-leak"], metrics["connection-leak-fixed"]
    used = fixed.gauge("db_client_connection_count", db_client_connection_state="used")
    assert max(v for _, v in used) < 100
    idle_in_tx = fixed.gauge("pg_stat_activity_count", state="idle in transaction")
    assert max(v for _, v in idle_in_tx) <= 5
    timeouts = fixed.gauge("db_client_connection_timeouts_total")
    assert max(v for _, v in timeouts) == 0
    assert fixed.total_requests() >= 0.9 * broken.total_requests()
    share = fixed.server_error_share()
    assert share < 0.05
    assert share < broken.server_error_share() / 4


def test_baseline_stays_healthy(metrics):
    m = metrics["baseline"]
    used = m.gauge("db_client_connection_count", db_client_connection_state="used")
    maximum = max(v for _, v in m.gauge("db_client_connection_max"))
    assert max(v for _, v in used) < 0.5 * maximum
    ratios = m.hourly_ratios()
    assert len(ratios) >= 3
    assert all(r < 2 for r in ratios.values()), ratios
    assert m.server_error_share() < 0.01
