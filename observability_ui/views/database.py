"""Database sessions, as ``pg_stat_activity`` showed them at any instant, and their history.

Snapshots were taken every 15 s; the table shows the snapshot at or just before the chosen
instant, with each session's transaction age and time in its state computed at that instant.
"""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, request

from observability_ui import charts
from observability_ui.request_context import UiError, dataset, instant, time_range
from observability_ui.views.page import render

bp = Blueprint("database", __name__)

STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")
SORTS = {
    "pid": "pid",
    "xact_age": "xact_start IS NULL, xact_start",
    "state_age": "state_change",
    "state": "state, pid",
    "application": "application_name, pid",
}


def _snapshot_time(db, at: float) -> float | None:
    row = db.execute("SELECT max(ts) FROM db_sessions WHERE ts <= ?", (at,)).fetchone()
    if row[0] is None:
        row = db.execute("SELECT min(ts) FROM db_sessions").fetchone()
    return row[0]


def _min_age() -> float:
    raw = request.args.get("min_age", "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise UiError(f"min_age must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise UiError("min_age cannot be negative")
    return value


def _max_connections(db, at: float) -> float | None:
    row = db.execute(
        "SELECT m.value FROM metric_samples m JOIN metric_series s ON s.id = m.series_id"
        " WHERE s.sample_name = 'pg_settings_max_connections' AND m.ts <= ? ORDER BY m.ts DESC LIMIT 1",
        (at,),
    ).fetchone()
    return row[0] if row else None


def sessions_at(
    db, at: float, state: str, application: str, min_age: float, sort: str
) -> tuple[float | None, list]:
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
        "SELECT pid, datname, usename, application_name, client_addr, backend_start, xact_start, query_start,"
        " state_change, state, wait_event_type, wait_event, query FROM db_sessions"
        f" WHERE {' AND '.join(clauses)} ORDER BY {SORTS[sort]}",
        params,
    ).fetchall()
    return snapshot, rows


def history(db, start: float, end: float, column: str) -> dict[str, list[tuple[float, float]]]:
    """Session counts per snapshot, grouped by ``state`` or ``application_name``."""
    assert column in {"state", "application_name"}
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


@bp.get("/database")
def page() -> str:
    tr = time_range()
    db = dataset().connection
    at = instant(tr.end)
    state = request.args.get("state", "")
    if state and state not in STATES:
        raise UiError(f"unknown state {state!r}; use one of: {', '.join(STATES)}")
    application = request.args.get("application", "")
    sort = request.args.get("sort", "xact_age")
    if sort not in SORTS:
        raise UiError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    snapshot, rows = sessions_at(db, at, state, application, _min_age(), sort)
    totals = dict(
        db.execute(
            "SELECT state, count(*) FROM db_sessions WHERE ts = ? GROUP BY state", (snapshot,)
        ).fetchall()
    )
    applications = [r[0] for r in db.execute("SELECT DISTINCT application_name FROM db_sessions ORDER BY 1")]
    by_state = history(db, tr.start, tr.end, "state")
    by_app = history(db, tr.start, tr.end, "application_name")
    return render(
        "database.html",
        tr,
        page_title="Database sessions",
        snapshot=snapshot,
        rows=rows,
        totals=totals,
        states=STATES,
        applications=applications,
        max_connections=_max_connections(db, snapshot or tr.end),
        filters={
            "state": state,
            "application": application,
            "min_age": request.args.get("min_age", ""),
            "sort": sort,
        },
        at_raw=request.args.get("at", ""),
        state_chart=charts.figure([charts.line(k, v) for k, v in by_state.items()], "sessions"),
        app_chart=charts.figure([charts.line(k, v) for k, v in by_app.items()], "sessions"),
    )


@bp.get("/api/database/sessions")
def api_sessions() -> dict:
    tr = time_range()
    db = dataset().connection
    snapshot, rows = sessions_at(
        db,
        instant(tr.end),
        request.args.get("state", ""),
        request.args.get("application", ""),
        _min_age(),
        "pid",
    )
    keys = (
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
    )
    return {"snapshot": snapshot, "sessions": [dict(zip(keys, row, strict=True)) for row in rows]}
