"""row-lock-contention: the seat report job holds FOR UPDATE locks on the tenants' users across its
payment-gateway calls, user saves queue on the row locks while reads and the database stay idle, and
the reference fix (no transaction across the calls) takes the queue away.

Metric figures are read from the OpenMetrics export, as an outside tool would read them; sessions and
job runs from the dataset's tables (``pg_stat_activity`` snapshots and the scheduler's history).
Only this scenario's two runs are used: the session-wide ``metrics`` fixture exports every run.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from observability_ui.views.blocking import flatten
from observability_ui.views.database import blocking_at
from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics

pytestmark = pytest.mark.slow

ONSET = datetime(2026, 3, 11, 10, 14, 30, tzinfo=UTC).timestamp()  # the payment gateway slows down
BURSTS = [  # the 10:15 and 10:30 seat reports and the saves they hold up
    (
        datetime(2026, 3, 11, 10, m, tzinfo=UTC).timestamp(),
        datetime(2026, 3, 11, 10, m + 3, tzinfo=UTC).timestamp(),
    )
    for m in (15, 30)
]
QUIET = (datetime(2026, 3, 11, 10, 3, tzinfo=UTC).timestamp(), ONSET)
RUNS = ("row-lock-contention", "row-lock-contention-fixed")


@pytest.fixture(scope="module")
def runs(datasets, tmp_path_factory) -> dict[str, Metrics]:
    root = tmp_path_factory.mktemp("row-lock-contention")
    out = {}
    for name in RUNS:
        path = root / f"{name}.om"
        with Dataset.open(datasets[name]) as dataset:
            EXPORTERS["openmetrics"](dataset, path)
        out[name] = Metrics.parse(path)
    return out


@pytest.fixture(scope="module")
def tables(datasets) -> dict[str, sqlite3.Connection]:
    return {
        name: sqlite3.connect(f"file:{datasets[name] / 'telemetry.sqlite'}?mode=ro", uri=True)
        for name in RUNS
    }


def _between(points: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [value for ts, value in points if start <= ts < end]


def _lock_waiters(db: sqlite3.Connection, start: float, end: float) -> int:
    """The most sessions waiting on a row lock to update a user, in one snapshot of [start, end)."""
    (most,) = db.execute(
        """SELECT coalesce(max(n), 0) FROM (
             SELECT ts, sum(state = 'active' AND wait_event_type = 'Lock' AND query LIKE 'UPDATE users%') AS n
             FROM db_sessions WHERE ts >= ? AND ts < ? GROUP BY ts)""",
        (start, end),
    ).fetchone()
    return most


def _mean_latency(m: Metrics, method: str, start: float, end: float) -> float:
    def route(labels: dict[str, str]) -> bool:
        return (
            labels["http_request_method"] == method and labels["http_route"] == "/api/v1/users/<int:user_id>"
        )

    minutes = range(int(start // 60), int(end // 60))
    sums = m.increase_per_minute("http_server_request_duration_seconds_sum", route)
    counts = m.increase_per_minute("http_server_request_duration_seconds_count", route)
    return sum(sums.get(i, 0.0) for i in minutes) / sum(counts.get(i, 0.0) for i in minutes)


def _timeouts(m: Metrics, start: float, end: float) -> float:
    per_minute = m.increase_per_minute("gateway_responses_total", lambda labels: labels["code"] == "504")
    return sum(v for minute, v in per_minute.items() if start <= minute * 60 < end)


def test_user_saves_queue_on_row_locks_while_reads_and_the_database_idle(runs, tables):
    m, db = runs["row-lock-contention"], tables["row-lock-contention"]
    assert _lock_waiters(db, *QUIET) == 0
    locks = m.gauge("pg_locks_count", mode="exclusivelock")
    assert max(_between(locks, *QUIET)) <= 3
    used = m.gauge("db_client_connection_count", db_client_connection_state="used")
    assert max(_between(used, *QUIET)) <= 10
    for start, end in BURSTS:
        assert _lock_waiters(db, start, end) >= 20
        # The blocker: the job's transaction, idle between its gateway calls, its last query the lock.
        (blockers,) = db.execute(
            """SELECT count(DISTINCT pid) FROM db_sessions WHERE ts >= ? AND ts < ?
               AND state = 'idle in transaction' AND query LIKE '%FROM users%FOR UPDATE%'""",
            (start, end),
        ).fetchone()
        assert blockers == 1
        assert max(_between(locks, start, end)) >= 20
        # Saves wait and time out at the load balancer; reads of the same route stay fast.
        assert _mean_latency(m, "PATCH", start, end) >= 10
        assert _mean_latency(m, "GET", start, end) <= 0.1
        assert _timeouts(m, start, end) >= 10
        # The pool fills with sessions that wait, none pending, and the database does not work.
        assert max(_between(used, start, end)) >= 30
    assert max(v for _, v in m.gauge("db_client_connection_pending_requests")) == 0
    assert max(v for _, v in m.gauge("system_cpu_utilization_ratio", host_name="db-1")) < 0.2


def test_the_database_view_shows_the_saves_waiting_on_one_idle_transaction(tables):
    """The Database view's blocking tree over the first burst's snapshots: while saves wait, one root,
    the job's transaction idle between its gateway calls, and beneath it every session waiting on a
    row lock, each a user save; at 10:16, the burst's height, at least 30 of them."""
    db = tables["row-lock-contention"]
    waiters = {}
    for (ts,) in db.execute(
        "SELECT DISTINCT ts FROM db_sessions WHERE ts >= ? AND ts < ?", BURSTS[0]
    ).fetchall():
        trees = blocking_at(db, ts)
        if not _lock_waiters(db, ts, ts + 1):
            assert trees == []
            continue
        (tree,) = trees
        assert tree["state"] == "idle in transaction" and tree["query"].endswith("FOR UPDATE")
        below = [node for _, node in flatten(tree)][1:]
        assert all(node["query"].startswith("UPDATE users") and node["waiting"] > 0 for node in below)
        assert len(below) == tree["waiter_count"] == _lock_waiters(db, ts, ts + 1)
        minute = datetime.fromtimestamp(ts, UTC).strftime("%H:%M")
        waiters[minute] = max(waiters.get(minute, 0), len(below))
    assert waiters["10:16"] >= 30


def test_the_seat_report_runs_as_long_as_its_gateway_calls(tables):
    db = tables["row-lock-contention"]
    runs = dict(
        db.execute(
            """SELECT strftime('%H:%M', started_at, 'unixepoch'), finished_at - started_at FROM job_runs
               WHERE job_id = 'report_billed_seats' AND outcome = 'success'"""
        ).fetchall()
    )
    assert runs["10:00"] <= 20
    assert runs["10:15"] >= 60 and runs["10:30"] >= 60


def test_the_fix_lets_saves_through_while_the_gateway_stays_slow(runs, tables):
    broken, fixed, db = (
        runs["row-lock-contention"],
        runs["row-lock-contention-fixed"],
        tables["row-lock-contention-fixed"],
    )
    end = max(ts for ts, _ in fixed.gauge("db_client_connection_count")) + 1
    assert _lock_waiters(db, QUIET[0], end) <= 2
    snapshots = [ts for (ts,) in db.execute("SELECT DISTINCT ts FROM db_sessions")]
    assert max((tree["waiter_count"] for ts in snapshots for tree in blocking_at(db, ts)), default=0) <= 2
    assert max(v for _, v in fixed.gauge("pg_locks_count", mode="exclusivelock")) <= 3
    assert (
        max(v for _, v in fixed.gauge("db_client_connection_count", db_client_connection_state="used")) <= 10
    )
    assert _timeouts(fixed, QUIET[0], end) == 0
    for start, stop in BURSTS:
        assert _mean_latency(fixed, "PATCH", start, stop) <= 0.2
    assert fixed.total_requests() >= 0.99 * broken.total_requests()
    assert fixed.server_error_share() < 0.01
    # The job is as slow as before: the gateway still is, but nobody waits for it.
    (longest,) = db.execute(
        "SELECT max(finished_at - started_at) FROM job_runs WHERE job_id = 'report_billed_seats'"
    ).fetchone()
    assert longest >= 60
