"""Background jobs: the schedule as declared, every run, and how runs pile up per minute."""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint

from observability_ui import charts, params
from observability_ui.request_context import dataset, time_range
from observability_ui.views.page import page_range, range_json, render, status

bp = Blueprint("jobs", __name__)

OUTCOMES = ("success", "error", "skipped", "missed")
RUN_LIMIT = 500


def schedule(db, at: float) -> list[dict]:
    """Each declared job with its last and next run around ``at``."""
    jobs = []
    for row in db.execute(
        "SELECT id, name, func, trigger, jitter, max_instances, coalesce, misfire_grace_time, executor,"
        " executor_workers FROM jobs ORDER BY id"
    ):
        job = dict(
            zip(
                (
                    "id",
                    "name",
                    "func",
                    "trigger",
                    "jitter",
                    "max_instances",
                    "coalesce",
                    "misfire_grace_time",
                    "executor",
                    "executor_workers",
                ),
                row,
                strict=True,
            )
        )
        job["last_run"] = db.execute(
            "SELECT max(scheduled_at) FROM job_runs WHERE job_id = ? AND scheduled_at <= ?", (job["id"], at)
        ).fetchone()[0]
        job["next_run"] = db.execute(
            "SELECT min(scheduled_at) FROM job_runs WHERE job_id = ? AND scheduled_at > ?", (job["id"], at)
        ).fetchone()[0]
        jobs.append(job)
    return jobs


def runs(
    db, start: float, end: float, job: str, outcome: str, limit: int = RUN_LIMIT
) -> tuple[list[dict], int]:
    clauses, params = ["scheduled_at BETWEEN ? AND ?"], [start, end]
    if job:
        clauses.append("job_id = ?")
        params.append(job)
    if outcome:
        clauses.append("outcome = ?")
        params.append(outcome)
    where = " AND ".join(clauses)
    total = db.execute(f"SELECT count(*) FROM job_runs WHERE {where}", params).fetchone()[0]
    keys = ("run_id", "job_id", "scheduled_at", "started_at", "finished_at", "outcome", "trace_id", "error")
    rows = [
        dict(zip(keys, row, strict=True))
        for row in db.execute(
            f"SELECT {', '.join(keys)} FROM job_runs WHERE {where} ORDER BY scheduled_at DESC, run_id LIMIT ?",
            [*params, limit],
        )
    ]
    return rows, total


def per_minute(db, start: float, end: float) -> tuple[dict[str, list], list[tuple[float, float]]]:
    """Starts per minute by job, and the most runs in progress at once in each minute."""
    first, last = int(start // 60) * 60, int(end // 60) * 60
    minutes = list(range(first, last + 60, 60))
    starts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    intervals = []
    for job_id, started, finished in db.execute(
        "SELECT job_id, started_at, finished_at FROM job_runs WHERE started_at IS NOT NULL"
        " AND started_at <= ? AND coalesce(finished_at, started_at) >= ?",
        (end, start),
    ):
        starts[job_id][int(started // 60) * 60] += 1
        intervals.append((started, finished if finished is not None else end))
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals])
    peak, running, index = {}, 0, 0
    for minute in minutes:
        best = running
        while index < len(events) and events[index][0] < minute + 60:
            running += events[index][1]
            best = max(best, running)
            index += 1
        peak[minute] = best
    starts_series = {
        job: [(m, float(by_minute.get(m, 0))) for m in minutes] for job, by_minute in sorted(starts.items())
    }
    return starts_series, [(m, float(peak[m])) for m in minutes]


def _known_jobs() -> list[str]:
    return [row[0] for row in dataset().connection.execute("SELECT id FROM jobs ORDER BY id")]


def _run_filters(known: list[str]) -> tuple[str, str]:
    """The job and outcome asked for; a job the recording lacks is refused with the known ones."""
    return params.known("job", params.value("job", ""), known), params.value("outcome", "")


@bp.get("/jobs")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    db = dataset().connection
    known = _known_jobs()
    job, outcome = _run_filters(known)
    run_rows, total = runs(db, tr.start, tr.end, job, outcome)
    starts, concurrent = per_minute(db, tr.start, tr.end)
    body = render(
        "jobs.html",
        tr,
        range_error,
        page_title="Jobs",
        jobs=schedule(db, tr.end),
        runs=run_rows,
        total=total,
        known=known,
        outcomes=OUTCOMES,
        filters={"job": job, "outcome": outcome},
        starts_chart=charts.figure(
            [{**charts.line(name, points), "type": "bar"} for name, points in starts.items()],
            "starts / min",
            x_range=(tr.start, tr.end),
            barmode="stack",
        ),
        concurrent_chart=charts.figure(
            [charts.line("runs in progress (max per minute)", concurrent)], "runs", x_range=(tr.start, tr.end)
        ),
    )
    return body, status(range_error)


@bp.get("/api/jobs")
def api_schedule() -> dict:
    tr = time_range()
    return {"at": tr.end, "jobs": schedule(dataset().connection, tr.end)}


@bp.get("/api/jobs/runs")
def api_runs() -> dict:
    tr = time_range()
    job, outcome = _run_filters(_known_jobs())
    rows, total = runs(dataset().connection, tr.start, tr.end, job, outcome)
    return {"range": range_json(tr), "total": total, "limit": RUN_LIMIT, "runs": rows}


@bp.get("/api/jobs/per_minute")
def api_per_minute() -> dict:
    tr = time_range()
    starts, concurrent = per_minute(dataset().connection, tr.start, tr.end)
    return {
        "range": range_json(tr),
        "starts": [{"job": job, "points": points} for job, points in starts.items()],
        "running": concurrent,
    }
