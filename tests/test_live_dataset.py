"""A live recording read while it is written: the writer's recording mode, the reader, the UI's cache.

A small hand-made recording (no simulation, no live processes): a counter scraped every 15 s,
committed in steps, read through ``Dataset`` and the candidate app as the UI would read it; and the
live recorder's own cycle over an in-process registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from live.recorder import COMMIT_INTERVAL_S, LiveRecorder
from observability_ui.application import create_app
from observability_ui.query.promql_store import MetricCache, MetricStore
from obsim.dataset.reader import ABANDONED_AFTER_S, Dataset, DatasetError
from obsim.dataset.schema import DATABASE_NAME, MANIFEST_NAME
from obsim.dataset.writer import DatasetWriter

SCRAPE_S = 15.0
START = time.time() - 3600.0  # an hour recorded so far, ending about now
# Planned to run on for the rest of the day: the reader gives up on a recording whose planned end
# is long past, and these tests may run a good while after this module was imported.
PLANNED_END = START + 24 * 3600.0
LABELS = {"route": "/a"}


def _scrapes(writer: DatasetWriter, series: int, first: int, last: int) -> float:
    """Samples ``first``..``last`` (value = index) of ``series`` and a log record at the last one;
    returns the moment recorded until, a second after it."""
    writer.add_samples((series, START + i * SCRAPE_S, float(i)) for i in range(first, last + 1))
    writer.add_logs(
        [(START + last * SCRAPE_S, "api", "host-1", "info", "app", f"scrape {last}", None, None, "{}")]
    )
    return START + last * SCRAPE_S + 1.0


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[tuple[DatasetWriter, int]]:
    writer = DatasetWriter(tmp_path / "dataset")
    series = writer.series_id("requests", "counter", "requests served", "requests_total", LABELS)
    writer.publish_recording({"scenario": "hand-made", "live": True}, START, PLANNED_END)
    yield writer, series
    writer.abort()


def _points(store: MetricStore, metric: str) -> int:
    return sum(len(samples.timestamps) for samples in store.arrays(store.series(metric)))


def test_a_recording_is_readable_and_its_window_moves_with_each_commit(
    recording: tuple[DatasetWriter, int],
) -> None:
    writer, series = recording
    with Dataset.open(writer.target) as dataset:  # published before anything was committed
        assert dataset.recording
        assert dataset.window() == (START, START)
        assert "window_end" not in dataset.manifest  # readers of format 2 refuse rather than misread

    writer.commit(_scrapes(writer, series, 0, 100))
    with Dataset.open(writer.target) as first:
        assert first.window() == (START, START + 100 * SCRAPE_S + 1.0)
        writer.commit(_scrapes(writer, series, 101, 120))
        # One snapshot per opened dataset: the commit is not seen until it is reopened.
        assert first.window()[1] == START + 100 * SCRAPE_S + 1.0
        assert first.connection.execute("SELECT count(*) FROM metric_samples").fetchone()[0] == 101
    with Dataset.open(writer.target) as second:
        assert second.window()[1] == START + 120 * SCRAPE_S + 1.0
        assert second.connection.execute("SELECT count(*) FROM metric_samples").fetchone()[0] == 121


def test_the_metric_cache_sees_new_samples_and_series_of_a_recording(
    recording: tuple[DatasetWriter, int],
) -> None:
    writer, series = recording
    cache = MetricCache()  # one per app, shared by every request
    writer.commit(_scrapes(writer, series, 0, 10))
    with Dataset.open(writer.target) as dataset:
        store = MetricStore(dataset, cache)
        assert _points(store, "requests_total") == 11
        assert store.metric_names() == ["requests_total"]
        assert (
            MetricStore(dataset, cache).arrays(store.series("requests_total"))[0]
            is store.arrays(store.series("requests_total"))[0]
        )  # one snapshot: reused

    other = writer.series_id("queue", "gauge", "queue length", "queue_length", {})
    writer.add_samples([(other, START + 11 * SCRAPE_S, 3.0)])
    writer.commit(_scrapes(writer, series, 11, 12))
    with Dataset.open(writer.target) as dataset:
        store = MetricStore(dataset, cache)
        assert _points(store, "requests_total") == 13
        assert store.metric_names() == ["queue_length", "requests_total"]
    assert cache.samples == {}  # the finished-dataset cache is never filled from a recording


def test_a_finished_recording_is_an_ordinary_dataset_served_from_the_cache(
    recording: tuple[DatasetWriter, int],
) -> None:
    writer, series = recording
    writer.commit(_scrapes(writer, series, 0, 10))
    end = START + 10 * SCRAPE_S + 2.0
    target = writer.finish({"scenario": "hand-made", "live": True, "window_start": START, "window_end": end})
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    assert manifest["recording"] is False and manifest["window_end"] == end
    assert sorted(path.name for path in target.iterdir()) == sorted(
        [DATABASE_NAME, MANIFEST_NAME]
    )  # no WAL left
    cache = MetricCache()
    with Dataset.open(target) as dataset:
        assert not dataset.recording
        assert dataset.window() == (START, end)
        store = MetricStore(dataset, cache)
        assert _points(store, "requests_total") == 11
    with Dataset.open(target) as dataset:
        again = MetricStore(dataset, cache)
        assert again.arrays(again.series("requests_total"))[0] is cache.samples[series]


def test_a_recording_whose_writer_is_gone_is_refused(recording: tuple[DatasetWriter, int]) -> None:
    writer, _ = recording
    manifest_path = writer.target / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    manifest["writer"]["pid"] = int(gone.stdout)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=r"never finished: its writer .* is gone"):
        Dataset.open(writer.target)

    manifest["writer"]["pid"] = os.getpid()  # alive, but the run is long overdue
    manifest["planned_end"] = time.time() - ABANDONED_AFTER_S - 60
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="never finished: it was due to end"):
        Dataset.open(writer.target)


def test_the_ui_follows_a_recording(recording: tuple[DatasetWriter, int]) -> None:
    writer, series = recording
    writer.commit(_scrapes(writer, series, 0, 200))
    client = create_app(writer.target).test_client()
    query = {"query": "requests_total", "from": "now-15m"}

    before = client.get("/api/metrics/query_range", query_string=query).get_json()
    writer.commit(_scrapes(writer, series, 201, 220))
    after = client.get("/api/metrics/query_range", query_string=query).get_json()
    assert after["range"]["end"] - before["range"]["end"] == 20 * SCRAPE_S
    # the last step is the range's end, in whole milliseconds as Prometheus keeps times
    for answer, value in ((before, 200.0), (after, 220.0)):
        last_at, last_value = answer["series"][0]["points"][-1]
        assert last_at == pytest.approx(answer["range"]["end"], abs=1e-3) and last_value == value

    logs = client.get("/api/logs", query_string={"from": "now-5m"}).get_json()
    assert [entry["message"] for entry in logs["entries"]] == ["scrape 220"]  # 200 is 5 min and 1 s old
    assert client.get("/", query_string={"from": "now-15m"}).status_code == 200
    assert client.get("/database").status_code == 200


def test_the_live_recorder_publishes_at_once_commits_as_it_goes_and_finishes(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Counter("jobs", "jobs run", registry=registry).inc()
    recorder = LiveRecorder(tmp_path / "dataset", ["/nowhere/"], [registry], None, interval=SCRAPE_S)
    recorder.start({"scenario": "hand-made", "live": True}, planned_end=time.time() + 60)
    with Dataset.open(recorder.target) as dataset:
        assert dataset.recording
    entry = {"service": "api", "host": "h", "level": "info", "logger": "app", "message": "hello"}
    recorder.add_log(time.time(), entry)
    deadline = time.monotonic() + 3 * COMMIT_INTERVAL_S

    def committed() -> tuple[int, bool]:
        """Logs written, and whether the counter was scraped (``jobs_created`` depends on whether
        some other import called prometheus_client's ``disable_created_metrics``: not asked)."""
        with Dataset.open(recorder.target) as dataset:
            names = {series.sample_name for series in dataset.metric_series("jobs")}
            return len(list(dataset.logs())), "jobs_total" in names

    while committed() != (1, True) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert committed() == (1, True)
    assert recorder.stop()
    with Dataset.open(recorder.target) as dataset:
        assert not dataset.recording and dataset.manifest["counts"]["logs"] == 1
