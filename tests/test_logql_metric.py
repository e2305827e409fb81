"""LogQL metric queries over a few stored lines, every expectation counted by hand from them.

Windows are ``(t - range, t]``: a line exactly at a window's start is out, one exactly at its end in."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from observability_ui.application import create_app
from observability_ui.query import logql_metric
from observability_ui.query.logql_syntax import LogQueryError
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter

T0 = 1_773_151_200.0
LINES = [  # offset from T0, service, level, message
    (10, "platform-api", "error", "timeout talking to db"),
    (20, "platform-api", "error", "timeout talking to db"),
    (30, "platform-api", "info", "ok"),
    (60, "platform-api", "error", "timeout talking to redis"),
    (61, "worker", "error", "timeout"),
    (90, "worker", "info", "done"),
    (120, "platform-api", "error", "boom"),
]
API_ERRORS = {"service": "platform-api", "level": "error", "host": "web-1", "logger": "app"}
WORKER_ERRORS = {**API_ERRORS, "service": "worker"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    writer = DatasetWriter(tmp_path_factory.mktemp("logs") / "dataset")
    writer.add_logs(
        [
            (T0 + at, service, "web-1", level, "app", message, None, None, json.dumps({}))
            for at, service, level, message in LINES
        ]
    )
    path: Path = writer.finish({"scenario": "hand-made", "window_start": T0, "window_end": T0 + 300})
    with Dataset.open(path) as dataset:
        yield dataset.connection


def at(db: sqlite3.Connection, query: str, offset: float) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.points[0][1]
        for s in logql_metric.query_instant(db, query, T0 + offset)
    }


def key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_count_over_time_counts_a_streams_lines_in_the_left_open_window(db) -> None:
    query = 'count_over_time({service="platform-api"} |= "timeout" [1m])'
    assert at(db, query, 60) == {key(API_ERRORS): 3.0}  # lines at 10, 20, 60
    assert at(db, query, 70) == {key(API_ERRORS): 2.0}  # the line at 10 is at the window's start: out
    assert at(db, query, 200) == {}  # no line, no value


def test_rate_is_the_count_per_second_of_the_window(db) -> None:
    assert at(db, 'rate({service="platform-api"} |= "timeout" [1m])', 60) == {key(API_ERRORS): 3 / 60}


def test_sum_by_and_without_group_the_streams(db) -> None:
    by_level = at(db, "sum by (level) (count_over_time({}[2m]))", 120)
    assert by_level == {(("level", "error"),): 5.0, (("level", "info"),): 2.0}
    by_service = at(db, "sum without (host, logger, level) (count_over_time({}[2m]))", 120)
    assert by_service == {(("service", "platform-api"),): 5.0, (("service", "worker"),): 2.0}
    assert at(db, "count(count_over_time({}[2m]))", 120) == {(): 4.0}
    assert at(db, 'avg(count_over_time({level="error"}[2m]))', 120) == {(): 2.5}
    assert at(db, 'max(count_over_time({level="error"}[2m])) by (service)', 120) == {
        (("service", "platform-api"),): 4.0,
        (("service", "worker"),): 1.0,
    }


def test_topk_and_bottomk_keep_the_streams_labels(db) -> None:
    errors = 'count_over_time({level="error"}[2m])'
    assert at(db, f"topk(1, {errors})", 120) == {key(API_ERRORS): 4.0}
    assert at(db, f"bottomk(1, {errors})", 120) == {key(WORKER_ERRORS): 1.0}
    assert at(db, f"sum(topk(2, {errors}))", 120) == {(): 5.0}


def test_a_range_query_steps_through_the_windows(db) -> None:
    series = logql_metric.query_range(db, 'count_over_time({service="worker"}[30s])', T0 + 60, T0 + 120, 30)
    assert [(s.labels["level"], s.points) for s in series] == [
        ("error", [(T0 + 90, 1.0)]),
        ("info", [(T0 + 90, 1.0)]),
    ]


@pytest.mark.parametrize(
    ("query", "says", "position"),
    [
        ('count_over_time({level="error"})', "needs a log query and a range", 16),
        ("sum(count_over_time({}[1m])", "expected ')'", 27),
        (
            'quantile_over_time(0.5, {level="error"}[1m])',
            "quantile_over_time needs a value: add | unwrap",
            23,
        ),
        (
            "count_over_time({} | json | unwrap x [1m])",
            "count_over_time counts lines: it takes no unwrap",
            16,
        ),
        ("count_over_time({} | json [1m]) by (x)", "groups unwrapped values only", 32),
        (
            'sum_over_time({} | json | unwrap x | line_format "a" [1m])',
            "only label filters may follow unwrap",
            37,
        ),
        ("bytes_rate({}[1m])", "bytes_rate is not supported", 0),
        ("sum(absent_over_time({}[1m]))", "absent_over_time is not supported", 4),
        ("quantile_over_time({} | json | unwrap x [1m])", "needs a quantile first", 19),
        ("sum_over_time({} | unwrap size(x) [1m])", "unknown unwrap conversion size()", 19),
        ("rate_counter({} | unwrap x [1m])", "rate_counter is not supported", 0),
        (
            "sum(rate({}[1m])) / sum(rate({}[1m]))",
            "binary operations on metric queries (/) are not supported",
            18,
        ),
        ("count_over_time({}[1m]) > 5", "binary operations on metric queries (>) are not supported", 24),
        ("count_over_time({}[1m] offset 5m)", "offset is not supported", 18),
        ("topk(count_over_time({}[1m]))", "topk needs a whole number first", 5),
        ('count_over_time({level="error" [1m])', "expected", None),
        ("sum by (level) (count_over_time({}[1m])) by (level)", "give by/without once", 40),
    ],
)
def test_a_query_it_cannot_read_says_why_and_where(query: str, says: str, position: int | None) -> None:
    with pytest.raises(LogQueryError) as raised:
        logql_metric.parse(query)
    assert says in raised.value.message
    if position is not None:
        assert raised.value.position == position


def test_metric_queries_are_told_from_log_queries() -> None:
    assert logql_metric.is_metric_query('sum by (level) (rate({} |= "x" [1m]))')
    assert not logql_metric.is_metric_query('{service="worker"} |= "sum("')
    # so that the Logs page names what it refuses instead of sending a metric query to itself
    assert logql_metric.is_metric_query("bytes_rate({}[1m])")
    assert logql_metric.is_metric_query("quantile_over_time(0.99, {} | json | unwrap duration_ms [1m])")


@pytest.fixture(scope="module")
def client(db: sqlite3.Connection) -> FlaskClient:
    (path,) = [Path(row[2]) for row in db.execute("PRAGMA database_list") if row[1] == "main"]
    app = create_app(path.parent)
    app.testing = True
    return app.test_client()


def test_the_api_and_the_logs_page_answer_a_metric_query(client) -> None:
    query = "sum by (level) (count_over_time({}[1m]))"
    window = {"from": str(int(T0)), "to": str(int(T0 + 120))}
    answer = client.get("/api/logs/query_range", query_string={"query": query, "step": 60, **window})
    assert answer.status_code == 200, answer.json
    assert {s["labels"]["level"]: s["points"] for s in answer.json["series"]} == {
        "error": [[T0 + 60, 3.0], [T0 + 120, 2.0]],  # (T0, T0+60]: 10, 20, 60; (T0+60, T0+120]: 61, 120
        "info": [[T0 + 60, 1.0], [T0 + 120, 1.0]],
    }
    page = client.get("/logs", query_string={"query": query, **window})
    assert page.status_code == 200 and 'data-testid="logql-metric"' in page.get_data(as_text=True)
    bad = client.get("/api/logs/query_range", query_string={"query": "sum(count_over_time({}[1m])", **window})
    assert bad.status_code == 400 and "expected ')'" in bad.json["error"]
    listed = client.get("/api/logs", query_string={"query": query, **window})
    assert listed.status_code == 400 and "/api/logs/query_range" in listed.json["error"]
