"""queue-backlog: one refused email blocks the outbox; the reference fix parks it and the outbox drains.

Every figure is read from the OpenMetrics export, as an outside tool would read it.  The onset is the
minute of the first refusal in the seed-1 run (10:13); the tests compare the minutes before and after.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics

pytestmark = pytest.mark.slow

ONSET = datetime(2026, 3, 12, 10, 13, tzinfo=UTC).timestamp()
SETTLED = ONSET + 5 * 60  # every 5-minute figure after this point lies wholly after the onset
JOB = "send_outbound_emails"


@pytest.fixture(scope="module")
def metrics(datasets, tmp_path_factory) -> dict[str, Metrics]:
    """This scenario's two runs, exported: the session-wide ``metrics`` exports (so generates) every run."""
    root = tmp_path_factory.mktemp("queue-backlog-exports")
    parsed = {}
    for name in ("queue-backlog", "queue-backlog-fixed"):
        with Dataset.open(datasets[name]) as dataset:
            EXPORTERS["openmetrics"](dataset, root / f"{name}.om")
        parsed[name] = Metrics.parse(root / f"{name}.om")
    return parsed


def _values(points: list[tuple[float, float]], start: float = 0.0, end: float = float("inf")) -> list[float]:
    return [value for ts, value in points if start <= ts < end]


def _sent_per_minute(m: Metrics, result: str) -> dict[int, float]:
    return m.increase_per_minute("email_outbox_deliveries_total", lambda labels: labels["result"] == result)


def test_backlog_and_lag_grow_without_bound_after_the_onset(metrics):
    m: Metrics = metrics["queue-backlog"]
    age = m.gauge("email_outbox_oldest_pending_age_seconds")
    pending = m.gauge("email_outbox_pending_messages")
    assert max(_values(age, end=ONSET)) < 90, "the outbox lagged before the onset"
    after = _values(age, start=SETTLED)
    assert after == sorted(after), "the lag should only grow once the outbox is blocked"
    assert after[-1] >= 1500
    assert _values(pending, start=SETTLED)[-1] >= 1000
    assert min(_values(pending, start=SETTLED)) > max(_values(pending, end=ONSET))


def test_the_sender_stays_busy_but_sends_nothing(metrics):
    m: Metrics = metrics["queue-backlog"]
    sent, failed = _sent_per_minute(m, "sent"), _sent_per_minute(m, "failed")
    onset_minute, settled_minute = int(ONSET // 60), int(SETTLED // 60)
    assert sum(v for minute, v in sent.items() if minute < onset_minute) >= 200
    assert sum(v for minute, v in sent.items() if minute >= onset_minute + 1) == 0
    assert all(v >= 15 for minute, v in failed.items() if settled_minute <= minute < max(failed))
    running = m.gauge("scheduler_jobs_running", job=JOB)
    busy_after = _values(running, start=SETTLED)
    busy_before = _values(running, end=ONSET)
    assert sum(busy_after) / len(busy_after) >= 0.6
    assert sum(busy_before) / len(busy_before) <= 0.3


def test_the_api_stays_healthy_during_the_incident(metrics):
    m: Metrics = metrics["queue-backlog"]
    assert m.server_error_share() < 0.01


def test_fix_drains_the_outbox_and_keeps_the_app_healthy(metrics):
    broken, fixed = metrics["queue-backlog"], metrics["queue-backlog-fixed"]
    assert max(v for _, v in fixed.gauge("email_outbox_oldest_pending_age_seconds")) < 90
    assert max(v for _, v in fixed.gauge("email_outbox_pending_messages")) < 60
    sent = _sent_per_minute(fixed, "sent")
    assert sum(v for minute, v in sent.items() if minute >= int(SETTLED // 60)) >= 600
    assert sum(_sent_per_minute(fixed, "dead").values()) >= 1, "the refused message should be parked"
    assert sum(_sent_per_minute(fixed, "failed").values()) <= 5
    running = _values(fixed.gauge("scheduler_jobs_running", job=JOB), start=SETTLED)
    assert sum(running) / len(running) <= 0.3
    assert fixed.total_requests() >= 0.9 * broken.total_requests()
    assert fixed.server_error_share() < 0.01
