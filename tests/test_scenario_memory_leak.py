"""memory-leak emerges from the unbounded response cache, and its reference fix removes it.

Every figure is read from the OpenMetrics and JSON-lines exports, as an outside tool would read
them.  Only this scenario's two runs are exported (the shared ``metrics`` fixture exports every run).
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics, read_logs

pytestmark = pytest.mark.slow

RUNS = ("memory-leak", "memory-leak-fixed")
GIB = 1024**3


@pytest.fixture(scope="module")
def exported(datasets, tmp_path_factory) -> dict[str, tuple[Metrics, list[dict]]]:
    root = tmp_path_factory.mktemp("memory-leak-exports")
    out = {}
    for name in RUNS:
        with Dataset.open(datasets[name]) as dataset:
            EXPORTERS["openmetrics"](dataset, root / f"{name}.om")
            EXPORTERS["jsonl"](dataset, root / f"{name}.logs.jsonl")
        out[name] = (Metrics.parse(root / f"{name}.om"), read_logs(root / f"{name}.logs.jsonl"))
    return out


def _drops(points: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """(time, before, after) of every fall of more than half the value between two scrapes."""
    return [(t, a, b) for (_, a), (t, b) in itertools.pairwise(points) if b < a / 2]


def _messages(logs: list[dict], text: str) -> list[dict]:
    return [record for record in logs if text in record.get("message", "")]


def _epoch(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"]).timestamp()


def test_memory_climbs_to_the_limit_in_a_sawtooth(exported):
    metrics, _ = exported["memory-leak"]
    resident = metrics.gauge("process_resident_memory_bytes")
    limit = metrics.gauge("container_spec_memory_limit_bytes")
    working_set = metrics.gauge("container_memory_working_set_bytes")
    assert limit[0][1] == GIB
    assert resident[0][1] < 300e6  # a fresh worker
    drops = _drops(resident)
    assert 2 <= len(drops) <= 4, drops
    assert all(before > 0.85 * GIB and after < 300e6 for _, before, after in drops), drops
    assert max(v for _, v in working_set) <= GIB
    assert max(v for _, v in working_set) > 0.95 * GIB


def test_the_worker_is_oom_killed_and_rebooted_at_each_drop(exported):
    metrics, logs = exported["memory-leak"]
    kills = _messages(logs, "was sent SIGKILL! Perhaps out of memory?")
    boots = _messages(logs, "Booting worker with pid")
    drops = _drops(metrics.gauge("process_resident_memory_bytes"))
    assert len(kills) == len(boots) == len(drops)
    assert all(0 < drop - _epoch(kill) <= 30 for kill, (drop, _, _) in zip(kills, drops, strict=True))
    ooms = metrics.gauge("container_oom_events_total")
    assert ooms[-1][1] == len(kills)
    starts = metrics.gauge("process_start_time_seconds")
    assert len({v for _, v in starts}) == len(kills) + 1  # every worker is a new process
    assert len(starts) == len(metrics.gauge("container_spec_memory_limit_bytes"))  # at every scrape


def test_killed_requests_get_502_from_the_gateway_and_garbage_collection_slows(exported):
    metrics, logs = exported["memory-leak"]
    closed = _messages(logs, "upstream prematurely closed connection")
    assert closed and all(record["service"] == "gateway" for record in closed)
    (sums,) = metrics.select("python_gc_duration_seconds_sum", generation="2")
    workers = _pauses_by_worker(sums)
    killed = workers[:-1]  # the last worker is still alive at the end of the window
    assert len(killed) >= 2
    # Each worker's full collections lengthen as its heap grows; each pause is its own (it varies
    # by about 15 % around the heap's traversal cost), so the trend is judged, not every step.
    for pauses in killed:
        rises = sum(later > earlier for earlier, later in itertools.pairwise(pauses))
        assert len(pauses) >= 3 and rises >= (len(pauses) - 1) / 2, pauses
        assert max(pauses) in pauses[len(pauses) // 2 :], pauses
        assert pauses[-1] >= 1.3 * pauses[0] and pauses[-1] >= 0.3, pauses
        assert len(set(pauses)) == len(pauses), pauses


def _pauses_by_worker(sums: list[tuple[float, float]]) -> list[list[float]]:
    """Each full collection's pause, from the cumulative sum; a fall means a new process."""
    workers: list[list[float]] = [[]]
    previous = 0.0
    for _, value in sums:
        if value < previous:
            workers.append([])
            previous = 0.0
        if value > previous:
            workers[-1].append(value - previous)
        previous = value
    return workers


def test_the_fix_keeps_memory_flat_and_the_app_healthy(exported):
    broken, broken_logs = exported["memory-leak"]
    fixed, logs = exported["memory-leak-fixed"]
    resident = fixed.gauge("process_resident_memory_bytes")
    assert max(v for _, v in resident) < 0.6 * GIB
    assert not _drops(resident)
    assert fixed.gauge("container_oom_events_total")[-1][1] == 0
    assert not _messages(logs, "SIGKILL") and not _messages(logs, "upstream prematurely closed")
    assert fixed.total_requests() >= 0.95 * broken.total_requests()
    assert fixed.server_error_share() < 0.01
    gateway_errors = [r for r in logs if r.get("service") == "gateway" and r.get("level") == "error"]
    assert len(gateway_errors) <= 0.001 * fixed.total_requests()
    assert len(gateway_errors) < len([r for r in broken_logs if r.get("service") == "gateway"])
