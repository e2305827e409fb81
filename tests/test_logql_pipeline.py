"""LogQL pipeline stages (parsers, label filter expressions, line_format, unwrap, ``__error__``) and
the lines' order, over six stored lines; every expectation worked out by hand from them, as Loki's
documentation defines each stage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from observability_ui.application import create_app
from observability_ui.query import logql, logql_metric
from observability_ui.query.logql_syntax import LogQueryError
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter

T0 = 1_773_151_200.0
API = "platform-api"
LINES = [  # id (insertion order), offset from T0, service, level, message, attributes
    (1, 10, API, "info", "request completed method=GET status=200 took=120ms",
     {"http.route": "/users", "http.response.status_code": 200, "duration_ms": 120.0, "db": {"calls": 2}}),
    (2, 20, API, "error", "request completed method=POST status=503 took=2.5s",
     {"http.route": "/workflows", "http.response.status_code": 503, "duration_ms": 2500.0, "db": {"calls": 7}}),
    (3, 30, API, "error", "request completed method=GET status=500 took=900ms",
     {"http.route": "/users", "http.response.status_code": 500, "duration_ms": 900.0, "db": {"calls": 1}}),
    (4, 40, API, "warning", 'retrying call attempt=2 reason="connect timeout"',
     {"duration_ms": "n/a", "tags": ["a", "b"]}),
    (5, 50, "worker", "info", "job finished job=cleanup size=2KB",
     {"job.id": "cleanup", "duration_ms": 40, "level": "debug"}),
    (6, 70, API, "info", 'not logfmt "at all',
     {"http.route": "/users", "http.response.status_code": 200, "duration_ms": 80.0}),
]  # fmt: skip
ATTRIBUTES = {line[0]: line[5] for line in LINES}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    writer = DatasetWriter(tmp_path_factory.mktemp("pipeline") / "dataset")
    writer.add_logs(
        [
            (T0 + at, service, "web-1", level, "app", message, None, None, json.dumps(attributes))
            for _, at, service, level, message, attributes in LINES
        ]
    )
    path: Path = writer.finish({"scenario": "hand-made", "window_start": T0, "window_end": T0 + 300})
    with Dataset.open(path) as dataset:
        yield dataset.connection


def found(db: sqlite3.Connection, query: str) -> list[int]:
    """The ids a log query lists over the whole window, oldest first."""
    page = logql.search(db, logql.parse(query), T0, T0 + 300, direction="forward")
    assert page.total == len(page.entries)
    return [entry.id for entry in page.entries]


def lines(db: sqlite3.Connection, query: str) -> list[str]:
    return [
        e.message for e in logql.search(db, logql.parse(query), T0, T0 + 300, direction="forward").entries
    ]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        # json: attribute names as labels (dots become _), nested objects joined with _
        ('{service="platform-api"} | json | http_response_status_code >= 500', [2, 3]),
        ("{} | json | db_calls > 1", [1, 2]),
        ('{} | json | level_extracted="debug"', [5]),  # a stream label's name gets _extracted
        ('{} | json | http.route="/workflows"', [2]),  # a name no stage extracted reads the field
        # json with paths: a dotted key is one key in brackets; a.b is a nested path
        ('{} | json code=`["http.response.status_code"]` | code="503"', [2]),
        ('{} | json calls="db.calls", route=`["http.route"]` | calls="7" or route="/users"', [1, 2, 3, 6]),
        # logfmt reads the message; bare keys and what is not key=value are skipped
        ("{} | logfmt | status >= 500", [2, 3]),
        ('{} | logfmt | reason="connect timeout"', [4]),
        ("{} | logfmt | took > 1s", [2]),
        ("{} | logfmt | took >= 120ms and took < 1s", [1, 3]),
        ("{} | logfmt | size > 1KB", [5]),  # 2KB is 2000 bytes
        ("{} | logfmt | size > 2KiB", []),  # 2048
        ('{} | logfmt code="status", verb="method" | code="503" or verb="GET"', [1, 2, 3]),
        ('{} | logfmt code="status" | status="200"', []),  # only the named keys, renamed
        ('{} | logfmt --strict | __error__="LogfmtParserErr"', [6]),  # the stray quote
        ('{} | logfmt | __error__!=""', []),  # not strict: skipped, no error
        # and, or, a comma, brackets: and binds tighter
        ('{} | logfmt | status="200" or method="POST"', [1, 2]),
        ('{} | json | (http_route="/users" or http_route="/workflows"), duration_ms < 1000', [1, 3, 6]),
        ('{} | json | http_route="/users" or http_route="/workflows" and duration_ms < 1000', [1, 3, 6]),
        # a numeric filter keeps a line whose value is no number, marked; only a string filter drops it
        ("{} | json | duration_ms > 100", [1, 2, 3, 4]),
        ('{} | json | duration_ms > 100 | __error__=""', [1, 2, 3]),
        ('{} | json | duration_ms > 100 | __error__="LabelFilterErr"', [4]),
        ("{} | json | missing > 0", []),  # a missing label never passes a numeric comparison
        ('{} | json | missing=""', [1, 2, 3, 4, 5, 6]),  # and reads as "" in a string one
        # a line filter after a parser still filters the line
        ('{} | logfmt |= "job"', [5]),
    ],
)
def test_parsers_and_label_filters(db, query: str, ids: list[int]) -> None:
    assert found(db, query) == ids


def test_line_format_rewrites_the_line_later_stages_read(db) -> None:
    routes = (
        '{service="platform-api"} | json | line_format "{{.http_route}} {{ .http_response_status_code }}"'
    )
    assert lines(db, routes) == ["/users 200", "/workflows 503", "/users 500", " ", "/users 200"]
    assert lines(db, routes + ' |= "/users"') == ["/users 200", "/users 500", "/users 200"]
    stored = f"job finished job=cleanup size=2KB {json.dumps(ATTRIBUTES[5])}"
    assert lines(db, '{service="worker"} | line_format "[{{__line__}}]"') == [f"[{stored}]"]
    # a parser after line_format reads the new line: the message is no JSON object
    not_json = '{service="worker"} | json | line_format "{{.message}}" | json'
    assert found(db, not_json + ' | __error__="JSONParserErr"') == [5]
    assert lines(db, not_json) == ["job finished job=cleanup size=2KB"]
    deep = '{service="worker"} | line_format `{"a":' + "[" * 1900 + '}` | json | __error__="JSONParserErr"'
    assert found(db, deep) == [5]  # too deep for the decoder: an error like any line that is no JSON


def test_direction_orders_the_lines_as_asked(db) -> None:
    whole = logql.parse('{service="platform-api"}')
    backward = logql.search(db, whole, T0, T0 + 300)  # Loki's default
    assert [e.id for e in backward.entries] == [6, 4, 3, 2, 1]
    forward = logql.search(db, whole, T0, T0 + 300, limit=2, offset=2, direction="forward")
    assert [e.id for e in forward.entries] == [3, 4] and forward.total == 5
    piped = logql.search(db, logql.parse("{} | json | duration_ms > 100"), T0, T0 + 300, limit=2, offset=1)
    assert [e.id for e in piped.entries] == [3, 2] and piped.total == 4  # 4 3 2 1, newest first
    with pytest.raises(LogQueryError, match="direction must be forward or backward"):
        logql.search(db, whole, T0, T0 + 300, direction="sideways")


def test_volume_counts_the_lines_the_pipeline_keeps(db) -> None:
    _, counts = logql.volume(db, logql.parse("{} | logfmt | status >= 500"), T0, T0 + 60, buckets=2)
    assert counts["error"] == [1, 1] and sum(map(sum, counts.values())) == 2  # at 20 s and 30 s


def at(db: sqlite3.Connection, query: str, offset: float) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.points[0][1]
        for s in logql_metric.query_instant(db, query, T0 + offset)
    }


def route(name: str) -> tuple[tuple[str, str], ...]:
    return (("http_route", name),)


def test_extracted_labels_group_metric_queries(db) -> None:
    # (T0, T0+60]: lines 1-4 of platform-api; line 4 has no route
    by_route = at(db, 'sum by (http_route) (count_over_time({service="platform-api"} | json [1m]))', 60)
    assert by_route == {route("/users"): 2.0, route("/workflows"): 1.0, (): 1.0}
    assert at(db, "sum by (tags) (count_over_time({} | json [5m]))", 300) == {(): 6.0}  # arrays: no label
    by_status = at(db, "sum by (status) (rate({} | logfmt | status != 0 [1m]))", 60)
    assert by_status == {
        (("status", "200"),): 1 / 60,
        (("status", "503"),): 1 / 60,
        (("status", "500"),): 1 / 60,
    }


UNWRAPPED = '{service="platform-api"} | json | unwrap duration_ms | __error__="" [1m]'


@pytest.mark.parametrize(
    ("function", "users", "workflows"),
    [  # /users: 120 and 900; /workflows: 2500; the n/a of line 4 dropped by | __error__=""
        ("sum_over_time", 1020.0, 2500.0),
        ("avg_over_time", 510.0, 2500.0),
        ("max_over_time", 900.0, 2500.0),
        ("min_over_time", 120.0, 2500.0),
        ("first_over_time", 120.0, 2500.0),
        ("last_over_time", 900.0, 2500.0),
        ("stdvar_over_time", 390.0**2, 0.0),  # population variance: mean 510, both 390 away
        ("stddev_over_time", 390.0, 0.0),
        ("rate", 1020.0 / 60, 2500.0 / 60),  # of an unwrapped range: the sum per second
        ("quantile_over_time(0.5,", 510.0, 2500.0),
        ("quantile_over_time(0.9,", 120.0 + 0.9 * 780.0, 2500.0),  # between the ranks, as Prometheus
    ],
)
def test_unwrapped_range_functions(db, function: str, users: float, workflows: float) -> None:
    opening = function if function.endswith(",") else function + "("
    result = at(db, f"{opening} {UNWRAPPED}) by (http_route)", 60)
    assert result == {route("/users"): pytest.approx(users), route("/workflows"): pytest.approx(workflows)}


def test_unwrapped_grouping_without_drops_the_named_labels(db) -> None:
    dropped = "http_route, http_response_status_code, message, db_calls"
    kept = at(db, f"max_over_time({UNWRAPPED}) without ({dropped})", 60)
    stream = {"service": API, "host": "web-1", "logger": "app"}
    assert kept == {
        tuple(sorted({**stream, "level": "info"}.items())): 120.0,  # line 1
        tuple(sorted({**stream, "level": "error"}.items())): 2500.0,  # lines 2 and 3
    }


def test_unwrap_conversions_and_the_label_it_takes(db) -> None:
    took = 'sum_over_time({} | logfmt | unwrap duration(took) | __error__="" [2m]) by (service)'
    assert at(db, took, 120) == {(("service", API),): pytest.approx(0.12 + 2.5 + 0.9)}
    size = 'max_over_time({} | logfmt | unwrap bytes(size) | __error__="" [2m]) by (service)'
    assert at(db, size, 120) == {(("service", "worker"),): 2000.0}
    (series,) = logql_metric.query_instant(
        db, 'sum_over_time({service="worker"} | json | unwrap duration_ms [1m])', T0 + 60
    )
    assert series.points[0][1] == 40.0
    assert "duration_ms" not in series.labels and series.labels["job_id"] == "cleanup"


def test_series_are_bounded_as_lokis_max_query_series_and_by_points(db, monkeypatch) -> None:
    per_line = "count_over_time({} | json [5m])"  # the message makes every line its own series
    assert len(logql_metric.query_instant(db, per_line, T0 + 300)) == 6
    monkeypatch.setattr(logql_metric, "MAX_SERIES", 5)
    with pytest.raises(LogQueryError, match=r"maximum number of series \(5\) reached"):
        logql_metric.query_instant(db, per_line, T0 + 300)
    assert at(db, "sum by (level) (count_over_time({} | json [5m]))", 300)[(("level", "info"),)] == 3.0
    monkeypatch.setattr(logql_metric, "MAX_POINTS", 6 * 10)
    with pytest.raises(LogQueryError, match="at least 6 series at 11 steps is more than"):
        logql_metric.query_range(db, per_line, T0 + 200, T0 + 300, 10)
    monkeypatch.setattr(logql_metric, "MAX_RANGE_SERIES", 4)  # even at one step: held once per line
    with pytest.raises(LogQueryError, match="at least 5 series at 1 steps is more than 4 series"):
        logql_metric.query_instant(db, per_line, T0 + 300)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ('sum_over_time({service="platform-api"} | json | unwrap duration_ms [1m])', "'SampleExtractionErr'"),
        (
            'count_over_time({service="worker"} | json | line_format "{{.message}}" | json [1m])',
            "'JSONParserErr'",
        ),
    ],
)
def test_a_metric_query_over_a_line_marked_with_an_error_fails_as_lokis_does(
    db, query: str, error: str
) -> None:
    with pytest.raises(LogQueryError) as raised:
        logql_metric.query_instant(db, query, T0 + 60)
    assert raised.value.message.startswith(f"pipeline error: {error}")
    assert '| __error__=""' in raised.value.message


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ('{} | json | line_format "{{ .a | upper }}"', "not {{ .a | upper }}"),
        ('{} | line_format "{{if .a}}x{{end}}"', "not {{if .a}}"),
        ('{} | pattern "<ip> <_>"', "| pattern is not supported"),
        ('{} | regexp "(?P<x>.)"', "| regexp is not supported"),
        ("{} | label_format a=b", "| label_format is not supported"),
        ("{} | drop a", "| drop is not supported"),
        ("{} | json --strict", "json has no flag --strict"),
        ("{} | json | unwrap x", "unwrap takes a metric query's values"),
        ("{} | json | x > 1sx", "1sx is neither a duration"),
        ('{} | json | addr = ip("10.0.0.0/8")', "ip() label filters are not supported"),
        ('{} |> "<_> timeout <_>"', "pattern line filters (|>) are not supported"),
        ('{} |= "timeout" or "refused"', "or between line filters is not supported"),
    ],
)
def test_refused_constructs_are_named(query: str, says: str) -> None:
    with pytest.raises(LogQueryError) as raised:
        logql.parse(query)
    assert says in raised.value.message


@pytest.fixture(scope="module")
def client(db: sqlite3.Connection) -> FlaskClient:
    (path,) = [Path(row[2]) for row in db.execute("PRAGMA database_list") if row[1] == "main"]
    app = create_app(path.parent)
    app.testing = True
    return app.test_client()


def test_the_api_and_page_take_a_direction_and_document_the_subset(client) -> None:
    window = {"from": str(int(T0)), "to": str(int(T0 + 300))}
    query = {"query": '{} | json | http_route="/users"', **window}
    forward = client.get("/api/logs", query_string={**query, "direction": "forward"})
    assert forward.status_code == 200, forward.json
    assert [e["id"] for e in forward.json["entries"]] == [1, 3, 6] and forward.json["direction"] == "forward"
    assert [e["id"] for e in client.get("/api/logs", query_string=query).json["entries"]] == [6, 3, 1]
    bad = client.get("/api/logs", query_string={**query, "direction": "up"})
    assert bad.status_code == 400 and "direction" in bad.json["error"]
    page = client.get("/logs", query_string={**query, "direction": "forward"}).get_data(as_text=True)
    assert "oldest first" in page and 'data-testid="logql-help"' in page
    assert "https://grafana.com/docs/loki/latest/query/log_queries/" in page
    chart = client.get(
        "/api/logs/query_range",
        query_string={"query": f"sum by (http_route) (sum_over_time({UNWRAPPED}))", "step": 60, **window},
    )
    assert chart.status_code == 200, chart.json
    users = {tuple(s["labels"].items()): s["points"] for s in chart.json["series"]}[
        (("http_route", "/users"),)
    ]
    assert users[:2] == [[T0 + 60, 1020.0], [T0 + 120, 80.0]]  # (T0+60, T0+120]: line 6 only
