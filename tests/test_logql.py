"""The LogQL subset of the Logs view, against a small dataset built here (no scenario generation).

Expected results come from plain-Python predicates over the same records, so each test states what a
query means rather than a count that happens to come out of the engine.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from observability_ui.query import log_streams
from observability_ui.query.logql import (
    LogQuery,
    LogQueryError,
    build,
    context,
    parse,
    search,
    volume,
)
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter

T0 = 1_700_000_000.0
LEVELS = ("debug", "info", "warning", "error", "critical")
START, END = T0, T0 + 4000.0  # every record falls in [START, END)


class Record(NamedTuple):
    id: int
    ts: float
    service: str
    host: str
    level: str
    logger: str
    message: str
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any]


# Records whose message or attributes are made to exercise one feature each.
SPECIAL: dict[int, tuple[str | None, dict[str, Any]]] = {
    7: (
        "job failed",
        {
            "error.type": "TimeoutError",
            "error.message": "QueuePool limit of size 5 overflow 0 reached",
            "error.stack": [{"file": "pool.py", "line": 38, "function": "_do_get"}],
        },
    ),
    11: ('user said "hello"', {}),
    13: (r"wrote C:\temp\new.txt", {}),
    17: (None, {"http.response.status_code": "503"}),  # a number stored as text still compares as one
    19: (None, {"duration_ms": "slow"}),  # not a number: never matches a numeric filter
}


def _record(index: int) -> Record:
    """Record ``index`` (id ``index + 1``): two records share each timestamp, to exercise tie-breaking."""
    service = "gateway" if index % 3 == 0 else "platform-api"
    level = LEVELS[index % 5]
    attributes: dict[str, Any] = {
        "http.route": "/api/v1/workflows" if index % 2 else "/api/v1/users",
        "http.response.status_code": 500 if level in ("error", "critical") else 200,
        "duration_ms": index * 10.5,
    }
    if index % 6 == 0:
        attributes["transaction"] = "create_workflow"
    elif index % 6 == 1:
        attributes["transaction"] = "list_users"
    message, extra = SPECIAL.get(index, (None, {}))
    traced = index % 4 == 0
    return Record(
        id=index + 1,
        ts=T0 + (index // 2) * 20.0,
        service=service,
        host="lb-1" if service == "gateway" else f"app-{index % 2 + 1}",
        level=level,
        logger="proxy" if service == "gateway" else "app.http",
        message=message or f"request {index} handled",
        trace_id=f"{index:032x}" if traced else None,
        span_id=f"{index:016x}" if traced else None,
        attributes=attributes | extra,
    )


RECORDS = [_record(index) for index in range(300)]
BY_ID = {record.id: record for record in RECORDS}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    """The records in a real dataset, opened read-only as the UI opens it."""
    writer = DatasetWriter(Path(tmp_path_factory.mktemp("logql")) / "dataset")
    writer.add_logs([(*record[1:-1], json.dumps(record.attributes)) for record in RECORDS])
    path = writer.finish({"window_start": START, "window_end": END})
    with Dataset.open(path) as dataset:
        yield dataset.connection


def ids(db: sqlite3.Connection, text: str, start: float = START, end: float = END) -> list[int]:
    return [entry.id for entry in search(db, parse(text), start, end, limit=1000).entries]


def expected(predicate: Callable[[Record], bool]) -> list[int]:
    """Ids of the matching records, newest first (ts, then id, descending)."""
    matching = sorted((r for r in RECORDS if predicate(r)), key=lambda r: (r.ts, r.id), reverse=True)
    return [record.id for record in matching]


# -- stream selector -------------------------------------------------------------------------------
SELECTORS: list[tuple[str, Callable[[Record], bool]]] = [
    ("{}", lambda r: True),
    ('{service="gateway"}', lambda r: r.service == "gateway"),
    ('{service!="gateway"}', lambda r: r.service != "gateway"),
    ('{level=~"error|critical"}', lambda r: r.level in ("error", "critical")),
    ('{level=~"warn.*"}', lambda r: r.level == "warning"),
    ('{level=~"warn"}', lambda r: False),  # anchored: a regex matches the whole value
    ('{level=~"(?i)ERROR"}', lambda r: r.level == "error"),
    ('{level!~"debug|info"}', lambda r: r.level not in ("debug", "info")),
    ('{host=~"app-[0-9]+"}', lambda r: r.host.startswith("app-")),
    ('{logger="proxy", level="info"}', lambda r: r.logger == "proxy" and r.level == "info"),
    ('{service="x\' OR 1=1 --"}', lambda r: False),  # values are bound, never spliced into SQL
]


@pytest.mark.parametrize(("text", "predicate"), SELECTORS)
def test_stream_selector(db, text, predicate):
    assert ids(db, text) == expected(predicate)


@pytest.mark.parametrize("text", [text for text, _ in SELECTORS])
def test_the_log_arrays_answer_a_selector_exactly_as_sql_does(db, text):
    """The Logs view counts and pages a selector alone from the dataset's log arrays
    (:mod:`log_streams`): every page, total and histogram must be SQL's, ties and edges included."""
    streams = log_streams.load(db)
    query = parse(text)
    assert log_streams.answers(query)
    just_before_end = math.nextafter(T0 + 20.0, math.inf)
    ranges = [(START, END), (T0 + 20.0, T0 + 60.0), (T0 + 20.0, T0 + 20.0), (T0 + 33.3, T0 + 2500.7)]
    for start, end in [*ranges, (0.0, just_before_end)]:
        for limit, offset in ((1000, 0), (7, 3), (7, 500), (1, 0)):
            for direction in ("backward", "forward"):
                from_arrays = search(db, query, start, end, limit, offset, direction, streams)
                from_sql = search(db, query, start, end, limit, offset, direction)
                assert from_arrays == from_sql, (start, end, limit, offset, direction)
        for buckets in (1, 3, 40, 1000):
            assert volume(db, query, start, end, buckets, streams) == volume(db, query, start, end, buckets)
    assert streams.services() == ["gateway", "platform-api"]


def test_filters_beyond_the_selector_are_left_to_sql():
    assert not log_streams.answers(parse('{} |= "QueuePool"'))
    assert not log_streams.answers(parse('{level="error"} | duration_ms > 100'))
    assert not log_streams.answers(parse('{level="error"} | json | status >= 500'))


# -- line filters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "predicate"),
    [
        ('{} |= "QueuePool"', lambda r: r.id == 8),  # only in the attributes' error.message
        ('{} |= "_do_get"', lambda r: r.id == 8),  # inside the nested error.stack
        ('{} |= "queuepool"', lambda r: False),  # case-sensitive, as in Loki
        ('{} != "handled"', lambda r: "handled" not in r.message),
        ('{} |~ "request \\\\d*5 handled"', lambda r: r.message.startswith("request") and r.id % 10 == 6),
        ("{} |~ `request \\d*5 handled`", lambda r: r.message.startswith("request") and r.id % 10 == 6),
        ('{} !~ "^request"', lambda r: not r.message.startswith("request")),
        ("{} |= `C:\\temp\\new`", lambda r: r.id == 14),  # raw string: backslashes as written
        ('{} |= "C:\\\\temp"', lambda r: r.id == 14),
        ('{} |= "said \\"hello\\""', lambda r: r.id == 12),
        ('{} |= "/api/v1/users"', lambda r: r.attributes["http.route"] == "/api/v1/users"),
    ],
)
def test_line_filters(db, text, predicate):
    assert ids(db, text) == expected(predicate)


def test_chained_filters_must_all_hold(db):
    text = (
        '{service="platform-api", level=~"error|critical"} |= "request" != "5 handled" |~ "^request \\\\d{2}"'
    )
    assert ids(db, text) == expected(
        lambda r: (
            r.service == "platform-api"
            and r.level in ("error", "critical")
            and r.message.startswith("request")
            and not r.message.endswith("5 handled")
            and int(r.message.split()[1]) >= 10
        )
    )


# -- field filters ---------------------------------------------------------------------------------
def _number(record: Record, field: str) -> float | None:
    try:
        return float(record.attributes[field])
    except (KeyError, ValueError):
        return None


@pytest.mark.parametrize(
    ("text", "predicate"),
    [
        ('{} | trace_id="00000000000000000000000000000028"', lambda r: r.id == 41),
        ('{} | trace_id=""', lambda r: r.trace_id is None),
        ('{} | trace_id!=""', lambda r: r.trace_id is not None),
        ('{} | span_id=~"0+2.*"', lambda r: r.span_id is not None and r.span_id.lstrip("0").startswith("2")),
        ('{} | level="error"', lambda r: r.level == "error"),
        (
            '{} | transaction="create_workflow"',
            lambda r: r.attributes.get("transaction") == "create_workflow",
        ),
        (
            '{} | transaction!="create_workflow"',
            lambda r: r.attributes.get("transaction") != "create_workflow",
        ),
        ('{} | transaction=""', lambda r: "transaction" not in r.attributes),
        ('{} | transaction=~"create_.*|list_users"', lambda r: "transaction" in r.attributes),
        ('{} | transaction!~"list_.*"', lambda r: r.attributes.get("transaction") != "list_users"),
        ('{} | error.type="TimeoutError"', lambda r: r.id == 8),
        ('{} | http.response.status_code="500"', lambda r: _number(r, "http.response.status_code") == 500),
        ("{} | http.response.status_code >= 500", lambda r: _number(r, "http.response.status_code") >= 500),
        ("{} | http.response.status_code == 503", lambda r: r.id == 18),
        ("{} | http.response.status_code = 503", lambda r: r.id == 18),
        ("{} | duration_ms > 1000", lambda r: (_number(r, "duration_ms") or 0) > 1000),
        ("{} | duration_ms <= 21", lambda r: _number(r, "duration_ms") is not None and r.id <= 3),
        ("{} | duration_ms != 0", lambda r: _number(r, "duration_ms") not in (None, 0)),
        ("{} | duration_ms < -1", lambda r: False),
        ("{} | missing > 0", lambda r: False),
        (
            '{service="gateway"} |= "request" | json | duration_ms > 100 | duration_ms < 1000',
            lambda r: (
                r.service == "gateway" and "request" in r.message and 100 < _number(r, "duration_ms") < 1000
            ),
        ),
        (
            '{service="gateway"} | logfmt | duration_ms > 100',
            lambda r: r.service == "gateway" and (_number(r, "duration_ms") or 0) > 100,
        ),
    ],
)
def test_field_filters(db, text, predicate):
    assert ids(db, text) == expected(predicate)


# -- ordering, paging, volume, context -------------------------------------------------------------
def test_newest_first_with_ties_broken_by_insertion_order(db):
    page = search(db, parse("{}"), START, END, limit=4)
    assert [(e.ts, e.id) for e in page.entries] == [
        (T0 + 2980.0, 300),
        (T0 + 2980.0, 299),
        (T0 + 2960.0, 298),
        (T0 + 2960.0, 297),
    ]
    newest = page.entries[0]
    assert newest.attributes == BY_ID[300].attributes and newest.trace_id is None


def test_time_range_is_half_open(db):
    assert ids(db, "{}", T0 + 20.0, T0 + 60.0) == [6, 5, 4, 3]
    assert ids(db, "{}", T0 + 20.0, T0 + 20.0) == []


def test_paging_reports_exact_totals(db):
    query = parse('{service="platform-api"}')
    everything = expected(lambda r: r.service == "platform-api")
    seen: list[int] = []
    offset = 0
    while True:
        page = search(db, query, START, END, limit=7, offset=offset)
        assert page.total == len(everything) == 200
        seen += [entry.id for entry in page.entries]
        offset += page.limit
        if not page.has_more:
            break
    assert seen == everything
    past_the_end = search(db, query, START, END, limit=7, offset=500)
    assert past_the_end.entries == [] and past_the_end.total == 200 and not past_the_end.has_more


def test_volume_buckets_add_up_to_the_matches_per_level(db):
    query = parse('{service="platform-api"} != "said"')
    starts, counts = volume(db, query, START, END, buckets=40)
    assert starts == [START + index * 100.0 for index in range(40)]
    assert set(counts) == set(LEVELS) and all(len(series) == 40 for series in counts.values())
    for level in LEVELS:
        assert sum(counts[level]) == len(
            expected(lambda r, lv=level: r.service == "platform-api" and r.level == lv and r.id != 12)
        )
    assert sum(map(sum, counts.values())) == search(db, query, START, END, limit=1).total
    # Records at T0+0, +20, +40, +60, +80 fill bucket 0 (two per timestamp, a third of them gateway).
    assert sum(series[0] for series in counts.values()) == len(
        [r for r in RECORDS if r.ts < T0 + 100 and r.service == "platform-api" and r.id != 12]
    )


def test_volume_keeps_a_record_just_before_the_end_in_the_last_bucket(db):
    # (ts - start) / width rounds up to 3 here: float rounding must not push the record out of range.
    end = math.nextafter(T0 + 20.0, math.inf)
    starts, counts = volume(db, parse("{}"), 0.0, end, buckets=3)
    assert len(starts) == 3
    assert [sum(series[index] for series in counts.values()) for index in range(3)] == [0, 0, 4]


def test_context_shows_neighbours_of_the_same_service_oldest_first(db):
    entry_id = 101
    service = BY_ID[entry_id].service
    same = [r.id for r in RECORDS if r.service == service]
    where = same.index(entry_id)
    assert [e.id for e in context(db, entry_id, before=3, after=2)] == same[where - 3 : where + 3]
    assert [e.id for e in context(db, same[1], before=5, after=0)] == same[:2]
    assert [e.id for e in context(db, same[-1], before=0, after=5)] == [same[-1]]


# -- build, canonical text -------------------------------------------------------------------------
def test_build_from_form_values_round_trips(db):
    query = build(
        service="platform-api", level=["error", "critical"], contains='said "x"', trace_id=" abc \n"
    )
    assert str(query) == (
        '{service="platform-api", level=~"error|critical"} |= "said \\"x\\"" | trace_id="abc"'
    )
    assert parse(str(query)) == query
    assert build() == LogQuery() and str(build(service="", level=[], contains="")) == "{}"
    assert str(build(level="warning", contains="a\\b")) == '{level="warning"} |= "a\\\\b"'
    form = build(service="gateway", level=["info", "debug"], contains="request")
    assert ids(db, str(form)) == expected(
        lambda r: r.service == "gateway" and r.level in ("info", "debug") and "request" in r.message
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("{ }", "{}"),
        ('{level=~`a|b`,service="x"}|=`\\d`', '{level=~"a|b", service="x"} |= "\\\\d"'),
        ('{} | duration_ms>=1000 != "x"  | a.b="c\\td"', '{} != "x" | duration_ms >= 1000 | a.b="c\\td"'),
        ("{} | x = 2.5 | y == -1e3 | json", "{} | x == 2.5 | y == -1000 | json"),
        ('{} | logfmt | json | logfmt="x"', '{} | logfmt | json | logfmt="x"'),
        (
            '{} | json a="b.c",d="e" | x>1.5KB, y<=250ms or z="1"',
            '{} | json a="b.c", d="e" | (x > 1.5KB and y <= 250ms) or z="1"',
        ),
        (
            '{} | logfmt --strict | (a="1" or b="2") c!="3"',
            '{} | logfmt --strict | (a="1" or b="2") and c!="3"',
        ),
        ('{} | json | line_format "{{ .a }}" |~ "x"', '{} | json | line_format "{{ .a }}" |~ "x"'),
        ('{} | json | a="1" |= "x"', '{} |= "x" | json | a="1"'),  # the line is the same: SQL filters it
    ],
)
def test_canonical_text(text, canonical):
    assert str(parse(text)) == canonical
    assert parse(canonical) == parse(text)


# -- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "expected a stream selector like {service="),
        ('service="api"', 0, "expected a stream selector"),
        ("{", 1, 'expected a label matcher like service="api", found the end of the query'),
        ("{,}", 1, "expected a label matcher"),
        ('{service="a",}', 13, "expected a label matcher"),
        ('{app="x"}', 1, "unknown stream label 'app'"),
        ("{service}", 8, "expected a matcher operator (= != =~ !~) after service"),
        ('{service>"x"}', 8, "expected a matcher operator"),
        ("{service=api}", 9, "expected a quoted string after ="),
        ('{service="api"', 14, "expected ',' or '}'"),
        ('{service="api}', 9, "unterminated string"),
        ("{} |= `abc", 6, "unterminated raw string"),
        ('{} |= "a\\qb"', 8, "unknown escape \\q"),
        ('{level=~"("}', 8, "invalid regex"),
        ('{} |~ "[a"', 6, "invalid regex"),
        ('{} | x=~"*"', 8, "invalid regex"),
        ("{} foo", 3, "expected a line filter"),
        ("{} |", 4, "expected a label filter"),
        ("{} | duration_ms", 16, "expected a comparison"),
        ("{} | duration_ms >", 18, "expected a quoted string or a number after >"),
        ("{} | duration_ms > 1sx", 19, "1sx is neither a duration"),
        ('{} | duration_ms > "1"', 19, "> compares numbers"),
        ("{} | transaction =~ 5", 20, '=~ needs a quoted string, like transaction=~"5.."'),
        ("{} | trace_id = 5", 16, "trace_id is text"),
        ('{service="a"} # comment', 14, "unexpected character '#'"),
        ("{} |= 1", 6, "expected a quoted string after |="),
    ],
)
def test_syntax_errors_point_at_the_problem(text, position, fragment):
    with pytest.raises(LogQueryError) as caught:
        parse(text)
    assert caught.value.position == position
    assert fragment in caught.value.message
    assert str(caught.value) == f"{caught.value.message} at position {position}"


@pytest.mark.parametrize(
    ("text", "position", "name"),
    [
        ('sum by (level) (count_over_time({service="platform-api"}[5m]))', 0, "sum"),
        ('rate({service="platform-api"} |= "timeout" [1m])', 0, "rate"),
        ("  bytes_over_time({}[5m])", 2, "bytes_over_time"),
        ('topk(3, sum by (service) (rate({level="error"}[1m])))', 0, "topk"),
        ("sum(count_over_time({}[1m])) without (host)", 0, "sum"),
    ],
)
def test_metric_queries_are_named_and_pointed_elsewhere(text, position, name):
    with pytest.raises(LogQueryError) as caught:
        parse(text)
    assert caught.value.position == position
    assert caught.value.message.startswith(
        f"{name}(...) is a LogQL metric query; only log queries list lines"
    )
    assert "/api/logs/query_range" in caught.value.message


def test_overlong_queries_are_refused():
    with pytest.raises(LogQueryError, match="2001 characters long; the limit is 2000") as caught:
        parse("{} |= " + '"' + "x" * 1993 + '"')
    assert caught.value.position is None
    assert parse("{} |= " + '"' + "x" * 1992 + '"').line_filters[0].value == "x" * 1992
    with pytest.raises(LogQueryError, match="the limit is 2000"):
        build(contains="x" * 2000)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda db: search(db, LogQuery(), END, START), "ends"),
        (lambda db: search(db, LogQuery(), START, END, limit=0), "limit must be between 1 and 1000, not 0"),
        (lambda db: search(db, LogQuery(), START, END, limit=1001), "limit must be between 1 and 1000"),
        (lambda db: search(db, LogQuery(), START, END, offset=-1), "offset must not be negative"),
        (lambda db: volume(db, LogQuery(), END, START), "ends"),
        (lambda db: volume(db, LogQuery(), START, END, buckets=0), "buckets must be between 1 and 1000"),
        (lambda db: context(db, 1, before=-1), "before must be between 0 and 1000"),
        (lambda db: context(db, 10_000), "no log record with id 10000"),
    ],
)
def test_guard_rails(db, call, fragment):
    with pytest.raises(LogQueryError) as caught:
        call(db)
    assert fragment in caught.value.message and caught.value.position is None
