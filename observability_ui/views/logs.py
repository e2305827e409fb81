"""Logs: a Loki-style query or form filters, newest first, a volume histogram by level, details.

Nothing is silently truncated: the page says how many of how many matches it shows and pages
through the rest.
"""

from __future__ import annotations

from flask import Blueprint, request

from observability_ui import charts
from observability_ui.query import logql
from observability_ui.request_context import UiError, dataset, time_range
from observability_ui.timerange import TimeRange
from observability_ui.views.code import code_link
from observability_ui.views.page import range_json, render

bp = Blueprint("logs", __name__)

PAGE_SIZE = 100
LEVEL_COLOURS = {
    "debug": "#6b7785",
    "info": "#5aa9e6",
    "warning": "#e5b453",
    "error": "#f0616d",
    "critical": "#c03fd0",
}


def _query() -> tuple[str, logql.LogQuery]:
    text = request.args.get("query", "").strip()
    form = {key: request.args.get(key, "").strip() for key in ("service", "level", "contains", "trace_id")}
    try:
        if text:
            return text, logql.parse(text)
        built = logql.build(**{key: value or None for key, value in form.items()})
        return str(built), built
    except logql.LogQueryError as error:
        where = f" (at position {error.position})" if error.position is not None else ""
        raise UiError(f"{error.message}{where}") from None


def _offset() -> int:
    try:
        offset = int(request.args.get("offset", "0"))
    except ValueError:
        raise UiError("offset must be a whole number") from None
    if offset < 0:
        raise UiError("offset cannot be negative")
    return offset


def _search(query: logql.LogQuery, tr: TimeRange, offset: int) -> logql.LogPage:
    try:
        return logql.search(dataset().connection, query, tr.start, tr.end, limit=PAGE_SIZE, offset=offset)
    except logql.LogQueryError as error:
        raise UiError(error.message) from None


def _volume(query: logql.LogQuery, tr: TimeRange) -> tuple[list[float], dict[str, list[int]]]:
    """Matches per level in about one bucket a minute (20 to 120 buckets)."""
    buckets = min(120, max(20, int(tr.span // 60)))
    try:
        return logql.volume(dataset().connection, query, tr.start, tr.end, buckets=buckets)
    except logql.LogQueryError as error:
        raise UiError(error.message) from None


def with_filter(query: str, field: str, value: object, negate: bool = False) -> str:
    """The query with one more field filter, for the detail pane's +/- buttons."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'{query} | {field}{"!=" if negate else "="}"{text}"'


@bp.get("/logs")
def page() -> str:
    tr = time_range(default="now-15m")
    db = dataset().connection
    text, query = _query()
    offset = _offset()
    found = _search(query, tr, offset)
    starts, counts = _volume(query, tr)
    volume_chart = charts.figure(
        [
            {
                "type": "bar",
                "name": level,
                "x": [charts._iso(ts) for ts in starts],
                "y": values,
                "marker": {"color": LEVEL_COLOURS.get(level, "#9aa5b1")},
            }
            for level, values in counts.items()
            if any(values)
        ],
        "lines",
        barmode="stack",
        bargap=0.05,
    )
    services = [r[0] for r in db.execute("SELECT DISTINCT service FROM logs ORDER BY 1")]
    return render(
        "logs.html",
        tr,
        page_title="Logs",
        query_text=text,
        page=found,
        volume_chart=volume_chart,
        services=services,
        levels=logql.LEVELS,
        form={key: request.args.get(key, "") for key in ("service", "level", "contains", "trace_id")},
        with_filter=with_filter,
        code_link=code_link,
        page_size=PAGE_SIZE,
    )


@bp.get("/api/logs")
def api_search() -> dict:
    tr = time_range(default="now-15m")
    text, query = _query()
    found = _search(query, tr, _offset())
    return {
        "range": range_json(tr),
        "query": text,
        "total": found.total,
        "offset": found.offset,
        "limit": PAGE_SIZE,
        "entries": [entry.__dict__ for entry in found.entries],
    }


@bp.get("/api/logs/volume")
def api_volume() -> dict:
    tr = time_range(default="now-15m")
    text, query = _query()
    starts, counts = _volume(query, tr)
    return {"range": range_json(tr), "query": text, "bucket_starts": starts, "levels": counts}
