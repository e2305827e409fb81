"""The dataset reader and the exporters, on a small dataset written with the real DatasetWriter.

The exporters' outputs are checked with the consumers' own parsers (prometheus_client's OpenMetrics
parser, promtool, protobuf's JSON mapping of the OTLP messages) rather than by string matching, so
the tests fail when the output stops being what those tools accept.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from obsim.dataset.exporters import EXPORTERS, otlp_json
from obsim.dataset.reader import Dataset, DatasetError
from obsim.dataset.schema import DATABASE_NAME, FORMAT_VERSION, MANIFEST_NAME
from obsim.dataset.writer import DatasetWriter

T0 = 1_700_000_000.0
SCRAPES = [T0, T0 + 15, T0 + 30.25, T0 + 45.125]
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"
TRICKY_LABEL = 'say "hi"\\ now\nnext line'

SPANS = [
    (TRACE_A, "00f067aa0ba902b7", None, "api", "GET /users", "server", T0 + 1, 0.5, "unset", None,
     json.dumps({"http.route": "/users", "http.status_code": 500, "retry": False}), "[]"),
    (TRACE_A, "53995c3f42cd8ad8", "00f067aa0ba902b7", "api", "SELECT users", "client", T0 + 1.1, 0.3,
     "error", "timeout", json.dumps({"db.system": "postgresql", "db.rows": 0.0}),
     json.dumps([{"name": "exception", "time": T0 + 1.4,
                  "attributes": {"exception.type": "TimeoutError", "exception.escaped": True}}])),
    (TRACE_A, "b7ad6b7169203331", "53995c3f42cd8ad8", "db", "query", "server", T0 + 1.15, 0.25,
     "ok", None, "{}", "[]"),
    (TRACE_B, "e457b5a2e4d86bd1", None, "worker", "nightly_report", "internal", T0 + 20.000001, 3.75,
     "ok", None, json.dumps({"job.id": "nightly", "tags": ["a", "b"], "extra": {"n": 1}}), "[]"),
]  # fmt: skip

LOGS = [
    (T0 + 1.2, "api", "api-1", "info", "app.views", "listing users", TRACE_A, "00f067aa0ba902b7",
     json.dumps({"user_id": 42, "route": "/users"})),
    (T0 + 1.4, "api", "api-1", "error", "app.db", "query timed out", TRACE_A, "53995c3f42cd8ad8",
     json.dumps({"elapsed": 0.3, "message": "must not override the message"})),
    (T0 + 0.5, "worker", "worker-1", "debug", "apscheduler", "tick", None, None, "{}"),
    (T0 + 60, "api", "api-2", "warning", "app.health", "slow health check", None, None,
     json.dumps({"latency_ms": 950})),
    (T0 + 20.5, "worker", "worker-1", "critical", "app.jobs", "job crashed", TRACE_B, "e457b5a2e4d86bd1",
     json.dumps({"job": "nightly"})),
]  # fmt: skip

MANIFEST = {
    "scenario": "test-scenario",
    "seed": 7,
    "window_start": T0,
    "window_end": T0 + 900,
    "code_hash": "abc123",
    "patch_hash": None,
    "generator": "obsim 0.1.0",
    "counts": {"spans": len(SPANS), "logs": len(LOGS)},
}


def _write_metrics(writer: DatasetWriter) -> None:
    """A counter with _created, a labelled and an unlabelled gauge, and a histogram with two routes.

    Series are registered in an order that differs from the output order (the +Inf bucket first, a
    route appearing only at a later scrape) so the exporter's ordering is actually exercised.
    """
    counter = "http_requests"
    counter_help = 'Requests "served" \\ by route.\nSecond line.'
    histogram = "http_server_request_duration_seconds"
    bounds = ["+Inf", "0.1", "1.0", "0.25"]
    rows: list[tuple[int, float, float]] = []
    for scrape, ts in enumerate(SCRAPES):
        for route in ["/users", TRICKY_LABEL] if scrape >= 2 else ["/users"]:
            labels = {"route": route}
            total = writer.series_id(counter, "counter", counter_help, f"{counter}_total", labels)
            created = writer.series_id(counter, "counter", counter_help, f"{counter}_created", labels)
            rows += [(total, ts, 10.0 * scrape), (created, ts, T0 - 100)]
            counts = {"0.1": scrape, "0.25": 2 * scrape, "1.0": 3 * scrape, "+Inf": 3 * scrape + 1}
            for le in bounds:
                sid = writer.series_id(
                    histogram, "histogram", "Latency.", f"{histogram}_bucket", labels | {"le": le}
                )
                rows.append((sid, ts, float(counts[le])))
            count = writer.series_id(histogram, "histogram", "Latency.", f"{histogram}_count", labels)
            total_sum = writer.series_id(histogram, "histogram", "Latency.", f"{histogram}_sum", labels)
            rows += [(count, ts, float(counts["+Inf"])), (total_sum, ts, 0.75 * scrape)]
        in_use = writer.series_id("db_pool_in_use", "gauge", "Connections checked out.", "db_pool_in_use",
                                  {"pool": "main"})  # fmt: skip
        depth = writer.series_id("queue_depth", "gauge", "", "queue_depth", {})
        rows += [(in_use, ts, float(scrape % 3)), (depth, ts, -1.5 * scrape)]
    writer.add_samples(rows)


def _write_everything_else(writer: DatasetWriter) -> None:
    writer.add_spans(SPANS)
    writer.add_logs(LOGS)
    writer.add_db_sessions(
        [(T0 + 30, 4242, "app", "app", "api", "10.0.0.5", T0 - 3600, T0 + 10, T0 + 29, T0 + 29,
          "idle in transaction", "Client", "ClientRead", "SELECT * FROM users FOR UPDATE", None)]
    )  # fmt: skip
    writer.add_jobs([("nightly", "nightly_report", "app.jobs:nightly", "cron[minute='0']", None, 1, 1, None,
                      "threadpool", 4)])  # fmt: skip
    writer.add_job_runs(
        [("run-1", "nightly", T0 + 20, T0 + 20, T0 + 23.75, "error", TRACE_B, "KeyError: 'x'"),
         ("run-2", "nightly", T0 + 80, None, None, "skipped", None, None)]
    )  # fmt: skip


def _build(target: Path) -> Path:
    writer = DatasetWriter(target)
    _write_metrics(writer)
    _write_everything_else(writer)
    writer.set_meta(scenario="test-scenario", sample_interval=15)
    return writer.finish(MANIFEST)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("data") / "dataset")


@pytest.fixture
def dataset(dataset_dir: Path) -> Iterator[Dataset]:
    with Dataset.open(dataset_dir) as opened:
        yield opened


def _export(dataset: Dataset, kind: str, out: Path) -> Path:
    EXPORTERS[kind](dataset, out)
    return out


# -- the reader ------------------------------------------------------------------------------------
def test_open_exposes_manifest_meta_window_and_rows(dataset: Dataset, dataset_dir: Path) -> None:
    assert dataset.path == dataset_dir
    assert dataset.manifest["format_version"] == FORMAT_VERSION
    assert dataset.manifest["scenario"] == "test-scenario"
    assert dataset.meta() == {"format_version": str(FORMAT_VERSION), "sample_interval": "15",
                              "scenario": "test-scenario"}  # fmt: skip
    assert dataset.window() == (T0, T0 + 900)
    assert [family.name for family in dataset.metric_families()] == sorted(
        ["http_requests", "http_server_request_duration_seconds", "db_pool_in_use", "queue_depth"]
    )
    assert len(list(dataset.spans())) == len(SPANS)
    assert [record.ts for record in dataset.logs()] == sorted(row[0] for row in LOGS)


def test_open_is_read_only_and_close_closes(dataset_dir: Path) -> None:
    with Dataset.open(dataset_dir) as opened, pytest.raises(sqlite3.OperationalError, match="readonly"):
        opened.connection.execute("DELETE FROM logs")
    with pytest.raises(sqlite3.ProgrammingError):
        opened.connection.execute("SELECT 1")


def test_open_rejects_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=f"{re.escape(str(missing))}: no such dataset directory"):
        Dataset.open(missing)


@pytest.mark.parametrize("removed", [MANIFEST_NAME, DATABASE_NAME])
def test_open_rejects_a_directory_missing_a_file(tmp_path: Path, dataset_dir: Path, removed: str) -> None:
    copy = Path(shutil.copytree(dataset_dir, tmp_path / "copy"))
    (copy / removed).unlink()
    with pytest.raises(DatasetError, match=f"{re.escape(str(copy))}: missing {removed}"):
        Dataset.open(copy)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", True, None])
def test_open_rejects_other_format_versions(tmp_path: Path, dataset_dir: Path, version: object) -> None:
    copy = Path(shutil.copytree(dataset_dir, tmp_path / "copy"))
    manifest = json.loads((copy / MANIFEST_NAME).read_text()) | {"format_version": version}
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(DatasetError) as caught:
        Dataset.open(copy)
    message = str(caught.value)
    assert str(copy) in message
    assert f"format_version is {version!r}" in message
    assert f"reads format_version {FORMAT_VERSION}" in message


def test_an_unfinished_or_aborted_dataset_cannot_be_opened(tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    writer = DatasetWriter(target)
    writer.add_logs(LOGS)
    with pytest.raises(DatasetError, match="unfinished"):
        Dataset.open(writer.staging)
    (writer.staging / MANIFEST_NAME).write_text(json.dumps({"format_version": FORMAT_VERSION}))
    with pytest.raises(DatasetError, match="unfinished"):
        Dataset.open(writer.staging)  # even a staging directory that has a manifest is not a dataset
    with pytest.raises(DatasetError, match="no such dataset directory"):
        Dataset.open(target)
    writer.abort()
    assert not writer.staging.exists()
    with pytest.raises(DatasetError, match="no such dataset directory"):
        Dataset.open(target)


def test_a_new_run_removes_what_killed_runs_of_the_same_dataset_left(tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    killed = target.with_name(f"dataset.partial-{gone.pid}")
    running = target.with_name(f"dataset.partial-{os.getppid()}")  # a run still going: not ours to take
    other = tmp_path / f"other.partial-{gone.pid}"  # another dataset's leftover: its own rerun's job
    for staging in (killed, running, other):
        staging.mkdir()
        (staging / "telemetry.sqlite").write_bytes(b"x" * 1024)
    writer = DatasetWriter(target)
    assert not killed.exists()
    assert running.exists() and other.exists() and writer.staging.exists()
    writer.abort()


# -- OpenMetrics -----------------------------------------------------------------------------------
def _stored_samples(dataset: Dataset) -> dict[tuple[str, tuple[tuple[str, str], ...], float], float]:
    """Every stored sample keyed as the exposition names it (counter values get ``_total``)."""
    rows = dataset.connection.execute(
        "SELECT s.sample_name, s.labels, m.ts, m.value FROM metric_samples m JOIN metric_series s"
        " ON s.id = m.series_id"
    )
    return {
        (name, tuple(sorted(json.loads(labels).items())), round(ts, 6)): value
        for name, labels, ts, value in rows
    }


def _parse_openmetrics(text: str) -> list[Metric]:
    """Parse with prometheus_client, one scrape timestamp at a time.

    Its parser never resets the set it uses to drop duplicate samples when a Metric's timestamp changes,
    so from a Metric's second MetricPoint on it keeps only the first sample (it fails even on the spec's
    own multi-MetricPoint example).  Each single-timestamp exposition is still parsed and validated whole.
    """
    lines = text.splitlines()
    assert lines[-1] == "# EOF"
    stamps = sorted({line.rsplit(" ", 1)[1] for line in lines if not line.startswith("#")}, key=float)
    families: list[Metric] = []
    for stamp in stamps:
        scrape = [line for line in lines[:-1] if line.startswith("#") or line.rsplit(" ", 1)[1] == stamp]
        families += text_string_to_metric_families("\n".join([*scrape, "# EOF"]) + "\n")
    return families


def _assert_not_interleaved(lines: list[str]) -> None:
    """OpenMetrics 1.0: families, Metrics and MetricPoints are not interleaved; timestamps increase."""
    families: set[str] = set()
    metrics: set[tuple[str, str]] = set()
    family, metric, last_stamp = "", ("", ""), -math.inf
    for line in lines:
        if line.startswith("# TYPE "):
            family = line.split(" ")[2]
            assert family not in families, f"family {family} split: {line}"
            families.add(family)
        if line.startswith("#"):
            continue
        head, _, stamp = line.rsplit(" ", 2)
        assert head.startswith(family), f"sample outside its family: {line}"
        labels = head[head.index("{") :] if "{" in head else ""
        labelset = (family, re.sub(r'le="[^"]*",?', "", labels))  # a Metric: its labels without "le"
        if labelset != metric:
            metric, last_stamp = labelset, -math.inf
            assert metric not in metrics, f"Metric interleaved: {line}"
            metrics.add(metric)
        assert float(stamp) >= last_stamp, f"MetricPoints interleaved or out of order: {line}"
        last_stamp = float(stamp)


def test_openmetrics_round_trips_every_sample_through_prometheus_client(
    dataset: Dataset, tmp_path: Path
) -> None:
    text = _export(dataset, "openmetrics", tmp_path / "metrics.om").read_text(encoding="utf-8")
    families = _parse_openmetrics(text)
    assert {family.name: family.type for family in families} == {
        "db_pool_in_use": "gauge",
        "http_requests": "counter",
        "http_server_request_duration_seconds": "histogram",
        "queue_depth": "gauge",
    }
    help_texts = {family.documentation for family in families if family.name == "http_requests"}
    assert help_texts == {'Requests "served" \\ by route.\nSecond line.'}
    parsed = {
        (sample.name, tuple(sorted(sample.labels.items())), round(float(sample.timestamp), 6)): sample.value
        for family in families
        for sample in family.samples
    }
    assert parsed == _stored_samples(dataset)
    routes = {
        sample.labels["route"]
        for family in families
        if family.name == "http_requests"
        for sample in family.samples
    }
    assert routes == {"/users", TRICKY_LABEL}


def test_openmetrics_groups_families_metrics_and_metric_points(dataset: Dataset, tmp_path: Path) -> None:
    lines = _export(dataset, "openmetrics", tmp_path / "metrics.om").read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("# HELP ") for line in lines) == 4
    assert not any(line.startswith("# UNIT ") for line in lines)
    _assert_not_interleaved(lines)
    first_point = [line.split(" ")[0] for line in lines if line.startswith("http_server_request")][:6]
    assert [re.sub(r"\{.*\}", "", name) for name in first_point] == [
        *["http_server_request_duration_seconds_bucket"] * 4,
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_sum",
    ]
    assert [re.search(r'le="([^"]+)"', name)[1] for name in first_point[:4]] == ["0.1", "0.25", "1.0", "+Inf"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_backfills_the_openmetrics_export(dataset: Dataset, tmp_path: Path) -> None:
    exported = _export(dataset, "openmetrics", tmp_path / "metrics.om")
    blocks = tmp_path / "blocks"
    result = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(exported), str(blocks)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(blocks.glob("*/meta.json")), "promtool wrote no block"


# -- OTLP/JSON -------------------------------------------------------------------------------------
ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids_to_base64(node: Any) -> Any:
    """Protobuf's JSON mapping reads bytes as base64, OTLP/JSON has hex: convert, as the Collector does."""
    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in ID_FIELDS
            else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _parse_lines(path: Path, message_type: type) -> list[Any]:
    return [
        json_format.Parse(json.dumps(_hex_ids_to_base64(json.loads(line))), message_type())
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _resource(resource: Any) -> dict[str, str]:
    return {attribute.key: attribute.value.string_value for attribute in resource.attributes}


def test_otlp_traces_parse_as_export_requests_with_the_original_ids(dataset: Dataset, tmp_path: Path) -> None:
    out = _export(dataset, "otlp-json", tmp_path / "otlp")
    spans = {}
    for request in _parse_lines(out / "traces.jsonl", ExportTraceServiceRequest):
        for resource_spans in request.resource_spans:
            service = _resource(resource_spans.resource)["service.name"]
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "obsim"
                spans.update({span.span_id.hex(): (service, span) for span in scope_spans.spans})
    assert len(spans) == len(SPANS)
    for trace_id, span_id, parent, service, name, kind, start, duration, status, message, *_ in SPANS:
        exported_service, span = spans[span_id]
        assert (len(span.trace_id), len(span.span_id)) == (16, 8)
        assert (span.trace_id.hex(), exported_service, span.name) == (trace_id, service, name)
        assert span.parent_span_id.hex() == (parent or "")
        assert span.kind == otlp_json.SPAN_KINDS[kind]
        assert span.status.code == otlp_json.STATUS_CODES[status] and span.status.message == (message or "")
        assert span.start_time_unix_nano == round(start * 1e6) * 1000
        assert span.end_time_unix_nano - span.start_time_unix_nano == round(duration * 1e6) * 1000
    root = spans["00f067aa0ba902b7"][1]
    assert {a.key: a.value.WhichOneof("value") for a in root.attributes} == {
        "http.route": "string_value", "http.status_code": "int_value", "retry": "bool_value"
    }  # fmt: skip
    (event,) = spans["53995c3f42cd8ad8"][1].events
    assert (event.name, event.time_unix_nano) == ("exception", round((T0 + 1.4) * 1e6) * 1000)


def test_otlp_json_uses_the_otlp_encoding_rules(dataset: Dataset, tmp_path: Path) -> None:
    out = _export(dataset, "otlp-json", tmp_path / "otlp")
    request = json.loads((out / "traces.jsonl").read_text(encoding="utf-8").splitlines()[0])
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
    assert isinstance(span["startTimeUnixNano"], str) and isinstance(span["kind"], int)
    roots = [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
             if s["spanId"] in {"00f067aa0ba902b7", "e457b5a2e4d86bd1"}]  # fmt: skip
    assert roots and all("parentSpanId" not in root for root in roots)
    attributes = {attribute["key"]: attribute["value"] for root in roots for attribute in root["attributes"]}
    assert attributes["http.status_code"] == {"intValue": "500"}
    assert attributes["tags"] == {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}
    assert attributes["extra"] == {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "1"}}]}}


def test_otlp_logs_parse_with_resources_severity_and_trace_context(dataset: Dataset, tmp_path: Path) -> None:
    out = _export(dataset, "otlp-json", tmp_path / "otlp")
    exported = []
    for request in _parse_lines(out / "logs.jsonl", ExportLogsServiceRequest):
        for resource_logs in request.resource_logs:
            resource = _resource(resource_logs.resource)
            for scope_logs in resource_logs.scope_logs:
                exported += [(resource, record) for record in scope_logs.log_records]
    assert len(exported) == len(LOGS)
    by_body = {record.body.string_value: (resource, record) for resource, record in exported}
    for ts, service, host, level, logger, message, trace_id, span_id, _ in LOGS:
        resource, record = by_body[message]
        assert resource == {"service.name": service, "host.name": host}
        assert (record.severity_number, record.severity_text) == (
            otlp_json.SEVERITY_NUMBERS[level],
            level.upper(),
        )
        assert record.time_unix_nano == round(ts * 1e6) * 1000
        assert (record.trace_id.hex(), record.span_id.hex()) == (trace_id or "", span_id or "")
        assert len(record.trace_id) in (0, 16) and len(record.span_id) in (0, 8)
        assert {a.key: a.value for a in record.attributes}["logger.name"].string_value == logger
    listing = {a.key: a.value for a in by_body["listing users"][1].attributes}
    assert (listing["user_id"].int_value, listing["route"].string_value) == (42, "/users")


def test_otlp_json_batches_at_most_batch_size_records_per_line(
    dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(otlp_json, "BATCH_SIZE", 2)
    out = _export(dataset, "otlp-json", tmp_path / "otlp")
    sizes = [
        sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        for request in _parse_lines(out / "traces.jsonl", ExportTraceServiceRequest)
    ]
    assert sizes == [2, 2]
    assert len((out / "logs.jsonl").read_text().splitlines()) == 3


# -- JSON Lines ------------------------------------------------------------------------------------
def test_jsonl_has_one_ordered_line_per_log_with_attributes_merged(dataset: Dataset, tmp_path: Path) -> None:
    lines = _export(dataset, "jsonl", tmp_path / "logs.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == len(LOGS)
    stamps = [entry["timestamp"] for entry in entries]
    assert stamps == sorted(stamps)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) for stamp in stamps)
    fixed = ["timestamp", "service", "host", "level", "logger", "message", "trace_id", "span_id"]
    assert all(list(entry)[: len(fixed)] == fixed for entry in entries)
    assert entries[0] == {
        "timestamp": "2023-11-14T22:13:20.500000Z", "service": "worker", "host": "worker-1", "level": "debug",
        "logger": "apscheduler", "message": "tick", "trace_id": None, "span_id": None,
    }  # fmt: skip
    timed_out = next(entry for entry in entries if entry["logger"] == "app.db")
    assert timed_out["message"] == "query timed out" and timed_out["elapsed"] == 0.3
    assert timed_out["trace_id"] == TRACE_A


# -- all exporters ---------------------------------------------------------------------------------
def _snapshot(path: Path) -> dict[str, bytes]:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return {str(file.relative_to(path.parent)): file.read_bytes() for file in files}


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_exports_are_byte_identical_and_leave_no_temporary_files(
    dataset: Dataset, dataset_dir: Path, tmp_path: Path, kind: str
) -> None:
    first = _snapshot(_export(dataset, kind, tmp_path / "first" / "out"))
    _export(dataset, kind, tmp_path / "first" / "out")  # overwriting an earlier export works
    with Dataset.open(dataset_dir) as reopened:
        second = _snapshot(_export(reopened, kind, tmp_path / "second" / "out"))
    assert first == second
    assert _snapshot(tmp_path / "first" / "out") == first
    assert [p.name for p in tmp_path.rglob("*") if ".tmp-" in p.name] == []


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_a_failed_export_leaves_no_output(
    dataset: Dataset, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_: object) -> NoReturn:
        raise RuntimeError("disk on fire")

    for reader in ("metric_samples", "spans", "logs"):
        monkeypatch.setattr(dataset, reader, fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _export(dataset, kind, tmp_path / "out")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
