"""What a generated dataset promises the candidate's tools: metric names, trace shape, log links.

Reads the session's connection-leak dataset (the smallest faulty one) and its exports.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.test_dataset_exports import _parse_lines

pytestmark = pytest.mark.slow

REQUIRED_METRICS = {
    "http_server_request_duration_seconds_bucket": {
        "http_route",
        "http_request_method",
        "http_response_status_code",
    },
    # OpenTelemetry's http.client.request.duration: the response's status code, when there was one,
    # and error.type, when the call failed
    "http_client_request_duration_seconds_bucket": {
        "peer_service",
        "http_request_method",
        "http_response_status_code",
        "error_type",
    },
    "db_client_connection_count": {"db_client_connection_state", "db_client_connection_pool_name"},
    "db_client_connection_max": set(),
    "db_client_connection_pending_requests": set(),
    "db_client_connection_timeouts_total": set(),
    "db_client_connection_wait_time_seconds_bucket": set(),
    "pg_stat_activity_count": {"state"},
    "pg_stat_activity_max_tx_duration": {"state"},
    "system_cpu_utilization_ratio": {"host_name"},
    "system_disk_io_bytes_total": {"host_name"},
    "scheduler_job_runs_total": {"job", "outcome"},
    "scheduler_job_duration_seconds_bucket": {"job"},
    "scheduler_jobs_running": {"job"},
}


def test_required_metric_names_and_labels(metrics):
    series = metrics["connection-leak"].series
    for name, labels in REQUIRED_METRICS.items():
        found = [dict(key) for (n, key) in series if n == name]
        assert found, f"{name} missing"
        assert labels <= set(found[0]), f"{name} lacks {labels - set(found[0])}"
    states = {dict(key)["state"] for (n, key) in series if n == "pg_stat_activity_count"}
    assert {"active", "idle", "idle in transaction"} <= states
    for metric in ("system_cpu_utilization_ratio", "system_disk_io_bytes_total"):
        hosts = {dict(key)["host_name"] for (n, key) in series if n == metric}
        assert {"db-1", "app-1"} <= hosts, metric


def test_every_series_is_written_at_every_scrape(metrics):
    """All samples of a scrape share its timestamp, and a series, once it exists, is in every later scrape."""
    series = metrics["connection-leak"].series
    scrapes = sorted({ts for points in series.values() for ts, _ in points})
    assert all(round(b - a, 3) == 15.0 for a, b in itertools.pairwise(scrapes))
    for key, points in series.items():
        stamps = [ts for ts, _ in points]
        first = scrapes.index(stamps[0])
        assert stamps == scrapes[first:], f"{key} misses scrapes after it first appeared"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_promtool_accepts_the_real_export(exports, tmp_path):
    result = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(exports["connection-leak"]["metrics"]),
            str(tmp_path / "blocks"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_otlp_export_parses_with_the_official_messages(datasets, tmp_path):
    """Every span and log is exported; the first batches parse with the official protobuf messages
    (parsing all of a real dataset's batches that way takes minutes; the format is the same)."""
    with Dataset.open(datasets["connection-leak"]) as dataset:
        EXPORTERS["otlp-json"](dataset, tmp_path)
        span_count = dataset.connection.execute("SELECT count(*) FROM spans").fetchone()[0]
        log_count = dataset.connection.execute("SELECT count(*) FROM logs").fetchone()[0]
    heads = {}
    for name, message, key, inner, items in (
        ("traces.jsonl", ExportTraceServiceRequest, "resourceSpans", "scopeSpans", "spans"),
        ("logs.jsonl", ExportLogsServiceRequest, "resourceLogs", "scopeLogs", "logRecords"),
    ):
        lines = (tmp_path / name).read_text().splitlines()
        head = tmp_path / f"head-{name}"
        head.write_text("\n".join(lines[:10]) + "\n")
        heads[name] = _parse_lines(head, message)
        assert len(heads[name]) == 10
        total = sum(
            len(scope[items])
            for line in lines
            for resource in orjson.loads(line)[key]
            for scope in resource[inner]
        )
        assert total == (span_count if name == "traces.jsonl" else log_count), name
    spans = [
        span
        for r in heads["traces.jsonl"]
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert spans and all(len(span.trace_id) == 16 and len(span.span_id) == 8 for span in spans)


def _db(datasets, name: str):
    return Dataset.open(datasets[name])


def test_traces_show_the_request_path_with_code_locations(datasets):
    with _db(datasets, "connection-leak") as dataset:
        db = dataset.connection
        trace_id = db.execute(
            "SELECT trace_id FROM spans WHERE service = 'platform-api' AND name = 'POST /api/v1/workflows'"
            " AND status = 'error' LIMIT 1"
        ).fetchone()[0]
        spans = db.execute(
            "SELECT service, name, kind, parent_span_id, attributes FROM spans WHERE trace_id = ?",
            (trace_id,),
        ).fetchall()
    services = {s[0] for s in spans}
    assert services == {"gateway", "platform-api"}
    roots = [s for s in spans if s[3] is None]
    assert len(roots) == 1 and roots[0][0] == "gateway"
    names = {s[1] for s in spans}
    assert "db.connection.acquire" in names
    assert "POST validation-service" in names
    statements = [json.loads(s[4]) for s in spans if s[2] == "client" and "db.statement" in s[4]]
    assert statements
    for attributes in statements:
        assert attributes["code.filepath"].startswith("platform_api/")
        assert Path(attributes["code.filepath"]).suffix == ".py"
        assert attributes["code.lineno"] > 0


def test_logs_link_to_their_traces(datasets):
    with _db(datasets, "connection-leak") as dataset:
        db = dataset.connection
        orphans = db.execute(
            "SELECT count(*) FROM (SELECT trace_id FROM logs WHERE trace_id IS NOT NULL LIMIT 2000) l"
            " WHERE NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = l.trace_id)"
        ).fetchone()[0]
        messages = {row[0] for row in db.execute("SELECT DISTINCT message FROM logs")}
        stack = db.execute(
            "SELECT attributes FROM logs WHERE attributes LIKE '%error.stack%' LIMIT 1"
        ).fetchone()
    assert orphans == 0
    assert "request completed" in messages
    assert "long-running transaction" in messages
    if stack is not None:
        assert "/work/" not in stack[0] and "/tmp/" not in stack[0]


def test_a_call_that_timed_out_carries_its_error_type(datasets):
    """OpenTelemetry's error.type on http_client_request_duration_seconds: the validation service's
    calls that hit the 5 s timeout are counted with no status code and the exception's class (the
    one their client spans record), its error answers with their status, answered calls with none;
    and the timeouts counted by the last scrape are the client spans that timed out before it."""
    with _db(datasets, "connection-leak") as dataset:
        counts = [
            series
            for series in dataset.metric_series("http_client_request_duration_seconds")
            if series.sample_name == "http_client_request_duration_seconds_count"
            and series.labels["peer_service"] == "validation-service"
        ]
        final: dict[int, tuple[float, float]] = {}
        for series_id, ts, value in dataset.metric_samples([series.id for series in counts]):
            final[series_id] = (ts, value)
        last_scrape = max(ts for ts, _ in final.values())
        timed_out = dataset.connection.execute(
            "SELECT count(*) FROM spans WHERE service = 'platform-api' AND name = 'POST validation-service'"
            " AND json_extract(events, '$[0].attributes.\"exception.type\"') = 'httpx.ReadTimeout'"
            " AND start + duration < ?",
            (last_scrape,),
        ).fetchone()[0]
    by_outcome: dict[tuple[str, str], float] = defaultdict(float)
    for series in counts:
        labels = series.labels
        by_outcome[(labels["http_response_status_code"], labels["error_type"])] += final[series.id][1]
    assert timed_out > 0 and by_outcome[("", "httpx.ReadTimeout")] == timed_out
    assert {error for status, error in by_outcome if not status} == {"httpx.ReadTimeout"}
    answered = {(status, error) for status, error in by_outcome if status}
    assert ("200", "") in answered and ("503", "503") in answered
    assert all(error == (status if int(status) >= 400 else "") for status, error in answered)


def test_database_sessions_are_snapshotted_every_15_seconds(datasets):
    with _db(datasets, "connection-leak") as dataset:
        db = dataset.connection
        stamps = [row[0] for row in db.execute("SELECT DISTINCT ts FROM db_sessions ORDER BY ts")]
        stuck = db.execute(
            "SELECT count(*), min(query) FROM db_sessions WHERE ts = ? AND state = 'idle in transaction'",
            (stamps[-1],),
        ).fetchone()
    assert all(round(b - a, 3) == 15.0 for a, b in itertools.pairwise(stamps))
    assert stuck[0] >= 150
    assert re.search(r"FROM workflows\s+WHERE workflows.tenant_id = \$1 AND workflows.name = \$2", stuck[1])


def test_statements_read_as_postgresql_and_psycopg_write_them(datasets):
    """No SQLite ``?`` placeholder anywhere: spans carry the driver's ``%(name)s``, the server ``$n``."""
    with _db(datasets, "connection-leak") as dataset:
        db = dataset.connection
        statements = [
            row[0]
            for row in db.execute(
                "SELECT DISTINCT json_extract(attributes, '$.\"db.statement\"') FROM span_templates"
                " WHERE json_extract(attributes, '$.\"db.statement\"') IS NOT NULL"
            )
        ]
        queries = [row[0] for row in db.execute("SELECT DISTINCT query FROM db_session_states")]
    assert len(statements) > 20 and len(queries) > 5
    placeholder = re.compile(r"[=(,] *\?")
    assert not [text for text in statements + queries if placeholder.search(text)]
    assert any("%(tenant_id_1)s" in text for text in statements)
    assert any(re.search(r"= \$1\b", text) for text in queries)
    assert not any("%(" in text for text in queries)


def test_app_under_test_says_nothing_about_its_faults():
    forbidden = re.compile(
        r"(\bbug(gy|s)?\b|\bleak(s|ed|y|ing)?\b|intentional|deliberate|scenario|cron.?storm|connection.?leak"
        r"|\bfixme\b|\bxxx\b|\bhack\b|gotcha|on purpose|simulat|virtual)",
        re.IGNORECASE,
    )
    root = Path(__file__).resolve().parent.parent / "app_under_test"
    hits = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in root.rglob("*")
        if path.suffix in {".py", ".md"}
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert not hits, "\n".join(hits)
