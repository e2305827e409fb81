"""Loki-style log search for the candidate's Logs view: a LogQL subset run against a dataset's logs table.

A query such as ``{service="platform-api", level=~"error|warning"} |= "QueuePool" | duration_ms > 1000``
selects records by their stream labels (service, level, host, logger), filters their line (the message
followed by the attributes as JSON text, so ``|= "QueuePool"`` also finds it in ``error.message``), and
then filters fields (attribute keys, or columns such as ``trace_id``).  The syntax and its differences
from Loki are documented in ``logql_syntax``; this module compiles a parsed query to one SQL ``WHERE``
clause with bound parameters, so SQLite narrows by the ``ts`` (or ``trace_id``) index and does the text
work in C.  Only regexes (on RE2, linear in the text) and field value conversion call back into
Python, through functions registered on the connection, which a read-only connection allows; the
request's time budget interrupts the statement between two rows (:mod:`.budget`).  A query with
parser stages (``| json``, ``| logfmt``, ``line_format`` ...) has SQL select by everything written
before them, and runs the rest on each selected row in Python (:func:`piped`,
:mod:`.logql_pipeline`), under the same budget; its lines come in the order asked (``direction``).

Field semantics follow Loki's label filters: a missing field reads as ``""`` for text comparisons (so
``| transaction!="x"`` keeps records without one) and never matches a numeric comparison; text that
looks like a number (``"503"``) compares as one.  Values are decoded by SQLite's JSON functions, so
JSON ``true``/``false`` read as 1/0 and nested objects as their JSON text.  Time ranges are
half-open, ``start <= ts < end``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import orjson

from observability_ui.query import budget, log_streams, logql_pipeline, regex
from observability_ui.query.log_streams import LogStreams
from observability_ui.query.logql_syntax import (
    COLUMN_FIELDS,
    FieldFilter,
    LabelMatcher,
    LineFilter,
    LogQuery,
    LogQueryError,
    build,
    parse,
)

__all__ = [
    "LogEntry",
    "LogPage",
    "LogQuery",
    "LogQueryError",
    "build",
    "context",
    "parse",
    "piped",
    "search",
    "volume",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
DIRECTIONS = {"backward": "DESC", "forward": ""}  # Loki's direction: newest first (its default) or oldest
MAX_LIMIT = 1000
MAX_BUCKETS = 1000
_COLUMNS = "id, ts, service, host, level, logger, message, trace_id, span_id, attributes"
_LINE = "(message || ' ' || attributes)"  # what line filters see: the message, then the attributes JSON
_LITERAL_WORD = re.compile(r"[\w-]*")
# SQL templates per operator: "{}" is the operand expression, "?" the bound value.  The registered
# functions take the operand first so that its parameters always precede the value's.
_TEXT_OPS = {
    "=": "{} = ?",
    "!=": "{} != ?",
    "=~": "logql_fullmatch({}, ?)",
    "!~": "NOT logql_fullmatch({}, ?)",
}
_LINE_OPS = {
    "|=": "instr({}, ?) > 0",
    "!=": "instr({}, ?) = 0",
    "|~": "logql_search({}, ?)",
    "!~": "NOT logql_search({}, ?)",
}
_NUMBER_OPS = {
    ">": "logql_number({}) > ?",
    ">=": "logql_number({}) >= ?",
    "<": "logql_number({}) < ?",
    "<=": "logql_number({}) <= ?",
    "==": "logql_number({}) = ?",
    "!=": "logql_number({}) != ?",
}
# Records of one service on either side of a given one, nearest first (ties in ts broken by id).
_NEIGHBOURS = {
    "before": "ts <= ? AND NOT (ts = ? AND id >= ?) ORDER BY ts DESC, id DESC",
    "after": "ts >= ? AND NOT (ts = ? AND id <= ?) ORDER BY ts, id",
}


@dataclass(frozen=True)
class LogEntry:
    """One log record as the Logs view shows it, attributes decoded."""

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

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> LogEntry:
        """Build from a row selected as ``_COLUMNS``."""
        *head, attributes = row
        return cls(*head, attributes=json.loads(attributes))


@dataclass(frozen=True)
class LogPage:
    """One page of matches in the order asked; ``total`` counts every match in the range, never an estimate."""

    entries: list[LogEntry]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.entries) < self.total


class _Sql(NamedTuple):
    text: str
    params: list[Any]


def _field_number(value: Any) -> float | None:
    """A field's decoded value as a number, or None (no match) when it is missing or not numeric."""
    try:
        return float(value)
    except (TypeError, ValueError):  # TypeError: None, the field is missing
        return None


def fullmatch(text: str, pattern: str) -> bool:
    """Stream matchers and field regexes match the whole value, as Loki's do."""
    return regex.matcher(pattern).fullmatch(text) is not None


def _search(text: str, pattern: str) -> bool:
    """Line regexes match anywhere in the line, as Loki's ``|~`` does."""
    return regex.line_filter(pattern).search(text) is not None


_FUNCTIONS = (
    ("logql_fullmatch", 2, fullmatch),
    ("logql_search", 2, _search),
    ("logql_number", 1, _field_number),
)


def register_functions(db: sqlite3.Connection) -> None:
    """Install the Python helpers the compiled SQL calls (idempotent, and cheap enough per query)."""
    for name, arity, function in _FUNCTIONS:
        db.create_function(name, arity, function, deterministic=True)


def _attribute_path(field: str) -> str:
    """A JSON path naming ``field`` as one key: attribute keys contain dots (``http.route``)."""
    return f'$."{field}"'


def _literal_alternatives(pattern: str) -> list[str] | None:
    """The words of a regex like ``error|warning`` (no metacharacters), or None for any other regex."""
    words = pattern.split("|")
    return words if all(_LITERAL_WORD.fullmatch(word) for word in words) else None


def _text_clause(operand: _Sql, op: str, value: str) -> _Sql:
    """Compare ``operand`` with ``value``; an anchored alternation of plain words becomes SQL ``IN``,
    which spares a Python call per row for the commonest regex, ``level=~"error|warning"``."""
    words = _literal_alternatives(value) if op in ("=~", "!~") else None
    if words is None:
        return _Sql(_TEXT_OPS[op].format(operand.text), [*operand.params, value])
    negation = "NOT " if op == "!~" else ""
    placeholders = ", ".join("?" * len(words))
    return _Sql(f"{operand.text} {negation}IN ({placeholders})", [*operand.params, *words])


def _text_operand(field_filter: FieldFilter) -> _Sql:
    """The SQL expression reading a field as text: a column, or the attribute as SQLite decodes it."""
    if field_filter.field not in COLUMN_FIELDS:
        return _Sql("COALESCE(CAST(attributes ->> ? AS TEXT), '')", [_attribute_path(field_filter.field)])
    if field_filter.op == "=" and field_filter.value:
        return _Sql(field_filter.field, [])  # NULL never equals a non-empty value; keeps the index usable
    return _Sql(f"COALESCE({field_filter.field}, '')", [])


def _field_clause(field_filter: FieldFilter) -> _Sql:
    if isinstance(field_filter.value, str):
        return _text_clause(_text_operand(field_filter), field_filter.op, field_filter.value)
    # The parser allows numbers on attribute fields only.
    operator = _NUMBER_OPS[field_filter.op].format("attributes ->> ?")
    return _Sql(operator, [_attribute_path(field_filter.field), field_filter.value])


def _matcher_clause(matcher: LabelMatcher) -> _Sql:
    return _text_clause(_Sql(matcher.label, []), matcher.op, matcher.value)


def _line_clause(line_filter: LineFilter) -> _Sql:
    return _Sql(_LINE_OPS[line_filter.op].format(_LINE), [line_filter.value])


def where_clause(query: LogQuery, start: float, end: float) -> _Sql:
    """The whole query as one WHERE clause, time range first so SQLite starts from the ts index.

    SQLite tests the terms in the order written, so those calling back into Python go last and only
    see the rows the C-evaluated terms let through.
    """
    clauses = [
        _Sql("ts >= ? AND ts < ?", [start, end]),
        *map(_matcher_clause, query.matchers),
        *map(_line_clause, query.line_filters),
        *map(_field_clause, query.field_filters),
    ]
    clauses.sort(key=lambda clause: "logql_" in clause.text)  # stable: otherwise as written
    return _Sql(
        " AND ".join(f"({clause.text})" for clause in clauses),
        [param for clause in clauses for param in clause.params],
    )


def _check_range(start: float, end: float) -> None:
    if end < start:
        raise LogQueryError(f"the time range ends ({end}) before it starts ({start})")


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise LogQueryError(f"{name} must be between {low} and {high}, not {value}")


def piped(
    db: sqlite3.Connection,
    query: LogQuery,
    start: float,
    end: float,
    order: str = "",
    keep: frozenset[str] | None = frozenset(),
) -> Iterator[tuple[LogEntry, logql_pipeline.Line]]:
    """The records SQL selects, each through the query's pipeline, those it keeps (``order``: SQL's
    ``DESC`` or not, by time then insertion order), looking at the query budget as it goes.

    ``keep``: the extracted labels the caller reads besides those the stages name (None: all of
    them, a metric query's series labels); a listing reads none, so parsers extract only what
    the stages name, as Loki's parser hints do."""
    register_functions(db)
    where = where_clause(query, start, end)
    wanted = None if keep is None else keep | logql_pipeline.referenced(query.pipeline)
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM logs WHERE {where.text} ORDER BY ts {order}, id {order}", where.params
    )
    for row in budget.checked(rows, every=256):
        _, _, service, host, level, logger, message, trace_id, span_id, stored = row
        attributes = orjson.loads(stored)
        stream = {"service": service, "level": level, "host": host, "logger": logger}
        record = logql_pipeline.Record(message, trace_id, span_id, attributes, stored, stream)
        line = logql_pipeline.run(query.pipeline, record, wanted)
        if line is not None:
            yield LogEntry(*row[:-1], attributes=attributes), line


def _shown(entry: LogEntry, line: logql_pipeline.Line) -> LogEntry:
    """The entry as listed: after ``line_format``, its message is the line the template wrote."""
    return replace(entry, message=line.line) if line.rewritten else entry


def search(
    db: sqlite3.Connection,
    query: LogQuery,
    start: float,
    end: float,
    limit: int = 100,
    offset: int = 0,
    direction: str = "backward",
    streams: LogStreams | None = None,
) -> LogPage:
    """The matches in ``[start, end)`` in Loki's ``direction``: ``backward`` is newest first (ties
    by insertion order, latest first), ``forward`` oldest first; one page at a time.  With the
    dataset's ``streams``, a selector alone is counted and paged from them (the same answer without
    reading every record of the range)."""
    _check_range(start, end)
    _check_count("limit", limit, 1, MAX_LIMIT)
    if offset < 0:
        raise LogQueryError(f"offset must not be negative, not {offset}")
    if direction not in DIRECTIONS:
        raise LogQueryError(f"direction must be forward or backward, not {direction!r}")
    order = DIRECTIONS[direction]
    if query.pipeline:
        entries, total = [], 0
        for entry, line in piped(db, query, start, end, order):
            if offset <= total < offset + limit:
                entries.append(_shown(entry, line))
            total += 1
        return LogPage(entries, total, offset, limit)
    if streams is not None and log_streams.answers(query):
        total, ids = log_streams.page_ids(
            streams, query, start, end, limit, offset, newest_first=direction == "backward"
        )
        rows = db.execute(f"SELECT {_COLUMNS} FROM logs WHERE id IN ({', '.join('?' * len(ids))})", ids)
        by_id = {row[0]: row for row in rows}
        return LogPage([LogEntry.from_row(by_id[i]) for i in ids], total, offset, limit)
    register_functions(db)
    where = where_clause(query, start, end)
    (total,) = db.execute(f"SELECT COUNT(*) FROM logs WHERE {where.text}", where.params).fetchone()
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM logs WHERE {where.text} ORDER BY ts {order}, id {order} LIMIT ? OFFSET ?",
        [*where.params, limit, offset],
    )
    return LogPage([LogEntry.from_row(row) for row in rows], total, offset, limit)


def volume(
    db: sqlite3.Connection,
    query: LogQuery,
    start: float,
    end: float,
    buckets: int = 60,
    streams: LogStreams | None = None,
) -> tuple[list[float], dict[str, list[int]]]:
    """Match counts per level in ``buckets`` equal slices of ``[start, end)``, for the histogram above.

    Returns the bucket start times and, per level, one count per bucket.  Every standard level is
    present (zeros included) so the chart's legend does not jump between queries; the counts add up to
    the ``total`` that :func:`search` reports for the same query and range.  With the dataset's
    ``streams``, a selector alone is counted from them, as :func:`search` does.
    """
    _check_range(start, end)
    _check_count("buckets", buckets, 1, MAX_BUCKETS)
    width = (end - start) / buckets
    counts = {level: [0] * buckets for level in LEVELS}
    starts = [start + index * width for index in range(buckets)]
    if query.pipeline:
        register_functions(db)
        for entry, _ in piped(db, query, start, end):
            bucket = min(int((entry.ts - start) / width), buckets - 1)
            counts.setdefault(entry.level, [0] * buckets)[bucket] += 1
        return starts, counts
    rows: Iterable[tuple[int, str, int]]
    if streams is not None and log_streams.answers(query):
        rows = log_streams.volume_rows(streams, query, start, end, buckets)
    else:
        register_functions(db)
        where = where_clause(query, start, end)
        # MIN: float rounding can put a record just before ``end`` in bucket number ``buckets``.
        rows = db.execute(
            f"SELECT MIN(CAST((ts - ?) / ? AS INTEGER), ?) AS bucket, level, COUNT(*) FROM logs"
            f" WHERE {where.text} GROUP BY bucket, level",
            [start, width, buckets - 1, *where.params],
        )
    for bucket, level, count in rows:
        counts.setdefault(level, [0] * buckets)[bucket] = count
    return starts, counts


def _neighbours(db: sqlite3.Connection, entry: LogEntry, side: str, count: int) -> list[LogEntry]:
    """Up to ``count`` records of the entry's service on one side of it, nearest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM logs WHERE service = ? AND {_NEIGHBOURS[side]} LIMIT ?",
        (entry.service, entry.ts, entry.ts, entry.id, count),
    )
    return [LogEntry.from_row(row) for row in rows]


def context(db: sqlite3.Connection, entry_id: int, before: int = 5, after: int = 5) -> list[LogEntry]:
    """The record and its neighbours in the same service, oldest first: what was going on around it.

    Ignores the query on purpose, like Loki's "show context": the interesting neighbours are usually
    the lines the filter hid.
    """
    _check_count("before", before, 0, MAX_LIMIT)
    _check_count("after", after, 0, MAX_LIMIT)
    row = db.execute(f"SELECT {_COLUMNS} FROM logs WHERE id = ?", (entry_id,)).fetchone()
    if row is None:
        raise LogQueryError(f"there is no log record with id {entry_id}")
    entry = LogEntry.from_row(row)
    older = _neighbours(db, entry, "before", before)
    return [*reversed(older), entry, *_neighbours(db, entry, "after", after)]
