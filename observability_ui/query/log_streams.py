"""Every log record's time and stream, in arrays: counting a selector's matches without a scan.

The Logs view counts matches twice per request (the page's total and the volume histogram), and a
selector alone (``{level="error"}``, or nothing: every record) matched every record of the range
through the ``ts`` index and the table, hundreds of milliseconds for an hour of a busy service.  A
finished dataset's logs never change, so each record's time, id and stream (its service, level,
host and logger together) are read once per dataset into arrays, sorted as the search sorts
(``ts``, then ``id``); a selector is then decided once per stream, and a range is two binary
searches.  The answers are exactly SQL's: the same half-open range, the same bucket arithmetic in
IEEE doubles, the same matcher semantics (a regex matches the whole value, on the same engine).

Queries with line or field filters read the text and attributes, which these arrays do not hold:
they stay in SQL (:mod:`.logql`).  About 16 bytes a record, held with the dataset's metric arrays
and dropped with them under the server's memory budget.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from observability_ui.query import regex
from observability_ui.query.logql_syntax import STREAM_LABELS, LogQuery

_SERVICE, _LEVEL = STREAM_LABELS.index("service"), STREAM_LABELS.index("level")


@dataclass(frozen=True)
class LogStreams:
    """One dataset's records in (``ts``, ``id``) order: their times, ids and stream numbers."""

    ts: np.ndarray  # float64
    ids: np.ndarray  # int64
    stream: np.ndarray  # int32, an index into ``labels``
    labels: tuple[tuple[str, ...], ...]  # each stream's values of STREAM_LABELS

    @property
    def nbytes(self) -> int:
        return self.ts.nbytes + self.ids.nbytes + self.stream.nbytes

    def services(self) -> list[str]:
        """Every service that logged, sorted (the filter form's choices)."""
        return sorted({labels[_SERVICE] for labels in self.labels})


def answers(query: LogQuery) -> bool:
    """Whether :class:`LogStreams` can answer ``query``: a stream selector and nothing else."""
    return not query.line_filters and not query.field_filters and not query.pipeline


def load(db: sqlite3.Connection) -> LogStreams:
    """Read every record's time, id and stream (one pass over the table, in the search's order)."""
    numbers: dict[tuple[str, ...], int] = {}
    ts, ids, stream = [], [], []
    rows = db.execute(f"SELECT ts, id, {', '.join(STREAM_LABELS)} FROM logs ORDER BY ts, id")
    for moment, record, *labels in rows:
        ts.append(moment)
        ids.append(record)
        stream.append(numbers.setdefault(tuple(labels), len(numbers)))
    return LogStreams(
        np.array(ts, dtype=np.float64),
        np.array(ids, dtype=np.int64),
        np.array(stream, dtype=np.int32),
        tuple(numbers),
    )


def _selected(streams: LogStreams, query: LogQuery) -> np.ndarray:
    """Per stream, whether every matcher of the selector holds (SQL's ``=``, ``!=`` and regexes)."""
    keep = np.ones(len(streams.labels), dtype=bool)
    for matcher in query.matchers:
        position = STREAM_LABELS.index(matcher.label)
        for number, labels in enumerate(streams.labels):
            value = labels[position]
            if matcher.op == "=":
                holds = value == matcher.value
            elif matcher.op == "!=":
                holds = value != matcher.value
            else:
                whole = regex.matcher(matcher.value).fullmatch(value) is not None
                holds = whole == (matcher.op == "=~")
            keep[number] &= holds
    return keep


def _matching(streams: LogStreams, query: LogQuery, start: float, end: float) -> np.ndarray:
    """Positions (into the arrays) of the records matching ``query`` in ``[start, end)``, oldest first."""
    low, high = np.searchsorted(streams.ts, [start, end], side="left")
    keep = _selected(streams, query)[streams.stream[low:high]]
    return low + np.flatnonzero(keep)


def page_ids(
    streams: LogStreams,
    query: LogQuery,
    start: float,
    end: float,
    limit: int,
    offset: int,
    *,
    newest_first: bool = True,
) -> tuple[int, list[int]]:
    """How many records match, and the ids of one page of them, newest first (Loki's ``backward``)
    or oldest first (``forward``), ties by id, as SQL orders them."""
    found = _matching(streams, query, start, end)
    if not newest_first:
        return len(found), streams.ids[found[offset : offset + limit]].tolist()
    stop = max(len(found) - offset, 0)
    return len(found), streams.ids[found[max(stop - limit, 0) : stop][::-1]].tolist()


def volume_rows(
    streams: LogStreams, query: LogQuery, start: float, end: float, buckets: int
) -> list[tuple[int, str, int]]:
    """``(bucket, level, count)`` as :func:`observability_ui.query.logql.volume`'s SQL returns them:
    ``buckets`` slices of ``[start, end)``, ordered by bucket then level, empty cells left out."""
    found = _matching(streams, query, start, end)
    width = (end - start) / buckets
    bucket = np.minimum(((streams.ts[found] - start) / width).astype(np.int64), buckets - 1)
    levels = sorted({labels[_LEVEL] for labels in streams.labels})
    level_of_stream = np.array([levels.index(labels[_LEVEL]) for labels in streams.labels] or [0])
    cells = np.bincount(
        bucket * len(levels) + level_of_stream[streams.stream[found]], minlength=buckets * len(levels)
    ).reshape(buckets, len(levels))
    return [
        (int(row), levels[column], int(cells[row, column]))
        for row, column in zip(*np.nonzero(cells), strict=True)
    ]
