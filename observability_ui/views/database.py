"""Database sessions, as ``pg_stat_activity`` showed them at any instant, and their history.

Snapshots were taken every 15 s; the table shows the snapshot at or just before the chosen
instant, with each session's transaction age and time in its state computed at that instant, and
above it the snapshot's blocking trees (``pg_blocking_pids``, :mod:`observability_ui.views.blocking`).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import Any

from flask import Blueprint, request

from observability_ui import charts, params
from observability_ui.query.promql_store import MetricStore
from observability_ui.request_context import UiError, dataset, instant, time_range
from observability_ui.views.blocking import blocking_trees, flatten, parse_pids
from observability_ui.views.metrics_common import store
from observability_ui.views.page import InputError, page_range, range_json, render, status
from obsim.timerange import TimeRange, iso

bp = Blueprint("database", __name__)

MAX_MIN_AGE_S = 7 * 86400.0  # a week: longer than any recording, so any real filter fits
STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")
SORTS = {
    "pid": "pid",
    "xact_age": "xact_start IS NULL, xact_start",
    "state_age": "state_change",
    "state": "state, pid",
    "application": "application_name, pid",
}


SESSION_COLUMNS = (
    "pid",
    "datname",
    "usename",
    "application_name",
    "client_addr",
    "backend_start",
    "xact_start",
    "query_start",
    "state_change",
    "state",
    "wait_event_type",
    "wait_event",
    "query",
    "blocked_by",
)


def _snapshot_time(db, at: float) -> float | None:
    row = db.execute("SELECT max(ts) FROM db_sessions WHERE ts <= ?", (at,)).fetchone()
    if row[0] is None:
        row = db.execute("SELECT min(ts) FROM db_sessions").fetchone()
    return row[0]


def _max_connections(db, at: float) -> float | None:
    row = db.execute(
        "SELECT m.value FROM metric_samples m JOIN metric_series s ON s.id = m.series_id"
        " WHERE s.sample_name = 'pg_settings_max_connections' AND m.ts <= ? ORDER BY m.ts DESC LIMIT 1",
        (at,),
    ).fetchone()
    return row[0] if row else None


def _session(row: tuple) -> dict[str, Any]:
    """A ``db_sessions`` row by column, ``blocked_by`` as a list of pids (none: empty)."""
    session = dict(zip(SESSION_COLUMNS, row, strict=True))
    session["blocked_by"] = parse_pids(session["blocked_by"])
    return session


def sessions_at(
    db, at: float, state: str, application: str, min_age: float, sort: str
) -> tuple[float | None, list[dict[str, Any]]]:
    snapshot = _snapshot_time(db, at)
    if snapshot is None:
        return None, []
    clauses, params = ["ts = ?"], [snapshot]
    if state:
        clauses.append("state = ?")
        params.append(state)
    if application:
        clauses.append("application_name = ?")
        params.append(application)
    if min_age:
        clauses.append("xact_start IS NOT NULL AND ? - xact_start >= ?")
        params += [snapshot, min_age]
    rows = db.execute(
        f"SELECT {', '.join(SESSION_COLUMNS)} FROM db_sessions WHERE {' AND '.join(clauses)} ORDER BY {SORTS[sort]}",
        params,
    )
    return snapshot, [_session(row) for row in rows]


def blocking_at(db, snapshot: float | None) -> list[dict[str, Any]]:
    """The snapshot's blocking trees, built from all its sessions whatever the table's filters show:
    a waiter's blocker is in the tree even when filtered out of the table."""
    if snapshot is None:
        return []
    rows = db.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM db_sessions WHERE ts = ?", (snapshot,))
    return blocking_trees([_session(row) for row in rows], snapshot)


def history(db, start: float, end: float, column: str) -> dict[str, list[tuple[float, float]]]:
    """Session counts per snapshot in ``[start, end]``, grouped by ``state`` or
    ``application_name``: a slice of the whole recording's counts, which one scan of every snapshot
    reads and the dataset's answers keep (``MetricStore.answer``; a live recording's per extent).
    Only the groups with a session in the range are listed, as a scan of the range would."""
    sliced = {}
    for key, points in whole_history(store(), db, column).items():
        stamps = [ts for ts, _ in points]
        inside = points[bisect.bisect_left(stamps, start) : bisect.bisect_right(stamps, end)]
        if any(count for _, count in inside):
            sliced[key] = inside
    return sliced


def whole_history(metrics: MetricStore, db, column: str) -> dict[str, list[tuple[float, float]]]:
    """The whole recording's session counts per snapshot by ``column`` (see :func:`history`); the
    server's preload reads them ahead of the first Database page."""
    assert column in {"state", "application_name"}
    return metrics.answer(
        ("session history", column),
        lambda: _history(db, -math.inf, math.inf, column),
        lambda found: sum(len(points) for points in found.values()),
    )


def _history(db, start: float, end: float, column: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    stamps = [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT ts FROM db_sessions WHERE ts BETWEEN ? AND ? ORDER BY ts", (start, end)
        )
    ]
    counts = defaultdict(dict)
    for ts, key, count in db.execute(
        f"SELECT ts, {column}, count(*) FROM db_sessions WHERE ts BETWEEN ? AND ? GROUP BY ts, {column}",
        (start, end),
    ):
        counts[key][ts] = count
    for key, by_ts in sorted(counts.items()):
        out[key] = [(ts, float(by_ts.get(ts, 0))) for ts in stamps]
    return dict(out)


HISTORY_COLUMNS = {"state": "state", "application": "application_name"}


def _form() -> dict[str, str]:
    """The table's filters and sort as typed, which the form shows back even when refused."""
    keys = ("at", "state", "application", "min_age", "sort")
    return {key: request.args.get(key, "xact_age" if key == "sort" else "") for key in keys}


def _table(tr: TimeRange) -> tuple[float | None, list[dict[str, Any]], dict[str, int]]:
    """The snapshot shown, its sessions matching the request's filters and its counts by state."""
    db = dataset().connection
    application = params.known("application", params.value("application", ""), applications(db))
    params.ensure("at")
    snapshot, rows = sessions_at(
        db,
        instant(tr.end),
        params.value("state", ""),
        application,
        params.value("min_age", 0.0),
        params.value("sort", "xact_age"),
    )
    totals = dict(
        db.execute(
            "SELECT state, count(*) FROM db_sessions WHERE ts = ? GROUP BY state", (snapshot,)
        ).fetchall()
    )
    return snapshot, rows, totals


def applications(db) -> list[str]:
    """Every application_name the sessions had, sorted: the filter's choices.  A scan of every
    session row (135 ms on cron-storm), kept with the dataset's answers."""

    def distinct() -> list[str]:
        rows = db.execute(
            "SELECT DISTINCT application_name FROM db_sessions WHERE application_name IS NOT NULL ORDER BY 1"
        )
        return [row[0] for row in rows]

    return store().answer(("session applications",), distinct, len)


# A session's links open its application's logs and traces over these seconds around the moment its
# transaction began: the request that began it started a moment before (its trace is listed), and a
# quick one has logged its end by then; a slow one's lines are a click away on its trace.
MOMENT_BEFORE_S = 2
MOMENT_AFTER_S = 2


def around(moment: float) -> dict[str, str]:
    """The whole seconds around ``moment`` as the time picker shows them (ISO 8601 UTC): a range this
    tight keeps the request that began the transaction on the first page of newest-first results."""
    return {"from": iso(math.floor(moment) - MOMENT_BEFORE_S), "to": iso(math.ceil(moment) + MOMENT_AFTER_S)}


def _history_chart(series: dict[str, list[tuple[float, float]]], tr: TimeRange) -> str:
    """Session counts over the selected range, the x-axis pinned to it even with no snapshot in it."""
    return charts.figure(
        [charts.line(k, v) for k, v in series.items()], "sessions", x_range=(tr.start, tr.end)
    )


@bp.get("/database")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    snapshot, rows, totals, error = None, [], {}, None
    try:
        snapshot, rows, totals = _table(tr)
    except UiError as problem:
        error = InputError(problem.message)
    db = dataset().connection
    by_state = history(db, tr.start, tr.end, "state")
    by_app = history(db, tr.start, tr.end, "application_name")
    body = render(
        "database.html",
        tr,
        range_error,
        page_title="Database sessions",
        error=error,
        snapshot=snapshot,
        rows=rows,
        shown_pids={session["pid"] for session in rows},
        blocking=[list(flatten(tree)) for tree in blocking_at(db, snapshot)],
        totals=totals,
        states=STATES,
        applications=applications(db),
        max_connections=_max_connections(db, snapshot or tr.end),
        form=_form(),
        around=around,
        state_chart=_history_chart(by_state, tr),
        app_chart=_history_chart(by_app, tr),
    )
    return body, status(range_error, error)


@bp.get("/api/database/sessions")
def api_sessions() -> dict:
    tr = time_range()
    snapshot, rows, totals = _table(tr)
    db = dataset().connection
    return {
        "snapshot": snapshot,
        "max_connections": _max_connections(db, snapshot or tr.end),
        "counts_by_state": totals,
        "sessions": rows,
        "blocking": blocking_at(db, snapshot),
    }


@bp.get("/api/database/history")
def api_history() -> dict:
    tr = time_range()
    by = params.value("by", "state")
    series = history(dataset().connection, tr.start, tr.end, HISTORY_COLUMNS[by])
    return {
        "range": range_json(tr),
        "by": by,
        "series": [{"name": k, "points": v} for k, v in series.items()],
    }
