"""Trace search (service, operation, tags, whole-trace duration) and the trace waterfall."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, request

from observability_ui import charts
from observability_ui.request_context import UiError, dataset, time_range
from observability_ui.views.code import code_link
from observability_ui.views.page import InputError, page_range, range_json, render, status

bp = Blueprint("traces", __name__)

MAX_LIMIT = 500
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)?\s*$")
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, None: 1e-3}
_TAG = re.compile(r'^\s*([\w.\-]+)\s*=\s*"?([^"]*)"?\s*$')
_COMPARISON = re.compile(r"[<>]|!=")
SERVICE_COLOURS = {"gateway": "#8c7ae6", "platform-api": "#5aa9e6"}


def parse_duration(raw: str, name: str) -> float | None:
    """``150ms``, ``2s``, ``1.5m`` or a bare number of milliseconds, as Jaeger accepts."""
    if not raw.strip():
        return None
    match = _DURATION.match(raw)
    if not match:
        raise UiError(f"{name}: cannot read {raw!r} as a duration; use e.g. 250ms, 2s or 1.5m")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _no_ranges(part: str) -> str:
    """What to do instead when a tag compares (``>=500``): tags match one value, as Jaeger's do."""
    if not _COMPARISON.search(part):
        return ""
    return (
        " (a tag matches one exact value; for a range of values tick errors only, or filter the Logs"
        " page with a query like {} | http.response.status_code >= 500)"
    )


def parse_tags(raw: str) -> list[tuple[str, str]]:
    """``key=value`` pairs separated by spaces or commas, e.g. ``http.response.status_code=503``."""
    tags = []
    for part in [p for p in re.split(r"[,\s]+(?=[\w.\-]+=)", raw.strip()) if p]:
        match = _TAG.match(part)
        if not match:
            raise UiError(
                f"tags: cannot read {part!r}; use key=value, e.g. http.response.status_code=503{_no_ranges(part)}"
            )
        tags.append((match.group(1), match.group(2)))
    return tags


@dataclass
class TraceFilter:
    service: str = ""
    operation: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)
    min_duration: float | None = None
    max_duration: float | None = None
    errors_only: bool = False
    limit: int = 50


def search_traces(db, start: float, end: float, f: TraceFilter) -> tuple[list[dict[str, Any]], int]:
    """Root spans of traces in the range matching the filter, newest first, and how many match in all."""
    clauses = ["r.parent_span_id IS NULL", "r.start BETWEEN ? AND ?"]
    params: list[Any] = [start, end]
    if f.min_duration is not None:
        clauses.append("r.duration >= ?")
        params.append(f.min_duration)
    if f.max_duration is not None:
        clauses.append("r.duration <= ?")
        params.append(f.max_duration)
    if f.errors_only:
        clauses.append("EXISTS (SELECT 1 FROM spans e WHERE e.trace_id = r.trace_id AND e.status = 'error')")
    if f.service or f.operation or f.tags:
        inner, inner_params = ["s.trace_id = r.trace_id"], []
        if f.service:
            inner.append("s.service = ?")
            inner_params.append(f.service)
        if f.operation:
            inner.append("s.name = ?")
            inner_params.append(f.operation)
        for key, value in f.tags:
            inner.append("CAST(json_extract(s.attributes, ?) AS TEXT) = ?")
            inner_params += [f'$."{key}"', value]
        clauses.append(f"EXISTS (SELECT 1 FROM spans s WHERE {' AND '.join(inner)})")
        params += inner_params
    where = " AND ".join(clauses)
    total = db.execute(f"SELECT count(*) FROM spans r WHERE {where}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT r.trace_id, r.service, r.name, r.start, r.duration, r.status,"
        f" (SELECT count(*) FROM spans c WHERE c.trace_id = r.trace_id),"
        f" (SELECT count(*) FROM spans c WHERE c.trace_id = r.trace_id AND c.status = 'error')"
        f" FROM spans r WHERE {where} ORDER BY r.start DESC LIMIT ?",
        [*params, f.limit],
    ).fetchall()
    keys = ("trace_id", "service", "name", "start", "duration", "status", "spans", "errors")
    return [dict(zip(keys, row, strict=True)) for row in rows], total


def _filter_from_request() -> TraceFilter:
    args = request.args
    try:
        limit = int(args.get("limit", "50"))
    except ValueError:
        raise UiError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise UiError(f"limit must be between 1 and {MAX_LIMIT}")
    found = TraceFilter(
        service=args.get("service", ""),
        operation=args.get("operation", ""),
        tags=parse_tags(args.get("tags", "")),
        min_duration=parse_duration(args.get("min_duration", ""), "min duration"),
        max_duration=parse_duration(args.get("max_duration", ""), "max duration"),
        errors_only=args.get("errors") == "1",
        limit=limit,
    )
    if (
        found.min_duration is not None
        and found.max_duration is not None
        and found.max_duration < found.min_duration
    ):
        raise UiError("max duration is below min duration")
    return found


def _scatter(results: list[dict[str, Any]]) -> str:
    """Duration of each listed trace over time, errors apart; a click opens the trace."""
    return charts.figure(
        [
            {
                "type": "scatter",
                "mode": "markers",
                "name": label,
                "x": [charts._iso(r["start"]) for r in group],
                "y": [round(r["duration"] * 1000, 2) for r in group],
                "customdata": [r["trace_id"] for r in group],
                "marker": {"color": colour, "size": 7},
                "hovertemplate": "%{y} ms<extra>%{customdata}</extra>",
            }
            for label, colour, group in (
                ("ok", "#5aa9e6", [r for r in results if not r["errors"]]),
                ("error", "#f0616d", [r for r in results if r["errors"]]),
            )
        ],
        "trace duration (ms)",
    )


@bp.get("/traces")
def search() -> tuple[str, int]:
    tr, range_error = page_range("now-15m")
    results = total = scatter = error = None
    service = request.args.get("service", "")
    try:
        f = _filter_from_request()
        results, total = search_traces(dataset().connection, tr.start, tr.end, f)
        scatter = _scatter(results)
    except UiError as problem:
        error = InputError(problem.message)
    body = render(
        "traces.html",
        tr,
        range_error,
        page_title="Traces",
        error=error,
        results=results,
        total=total,
        services=dataset().span_services(),
        operations=dataset().span_operations(service or "platform-api", "server"),
        args=request.args,
        scatter=scatter,
    )
    return body, status(range_error, error)


@dataclass
class SpanView:
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str
    start: float
    duration: float
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    depth: int = 0
    offset_pct: float = 0.0
    width_pct: float = 0.0
    code_url: str | None = None


SPAN_FIELDS = (
    "span_id",
    "parent_id",
    "service",
    "name",
    "kind",
    "start",
    "duration",
    "status",
    "status_message",
    "attributes",
    "events",
    "depth",
    "code_url",
)


def load_trace(db, trace_id: str) -> list[SpanView]:
    """The trace's spans in depth-first order (children by start time), laid out for a waterfall."""
    rows = db.execute(
        "SELECT span_id, parent_span_id, service, name, kind, start, duration, status, status_message, attributes, events"
        " FROM spans WHERE trace_id = ? ORDER BY start, span_id",
        (trace_id,),
    ).fetchall()
    spans = [SpanView(*row[:9], attributes=json.loads(row[9]), events=json.loads(row[10])) for row in rows]
    if not spans:
        return []
    by_parent: dict[str | None, list[SpanView]] = {}
    ids = {s.span_id for s in spans}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    begin = min(s.start for s in spans)
    finish = max(s.start + s.duration for s in spans)
    total = max(finish - begin, 1e-6)
    ordered: list[SpanView] = []
    stack = [(root, 0) for root in reversed(by_parent.get(None, []))]
    while stack:
        span, depth = stack.pop()
        span.depth = depth
        span.offset_pct = 100 * (span.start - begin) / total
        span.width_pct = max(100 * span.duration / total, 0.2)
        if "code.filepath" in span.attributes:
            span.code_url = code_link(span.attributes["code.filepath"], span.attributes.get("code.lineno"))
        ordered.append(span)
        stack.extend((child, depth + 1) for child in reversed(by_parent.get(span.span_id, [])))
    return ordered


def _existing_trace(trace_id: str) -> list[SpanView]:
    if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
        abort(404, description=f"{trace_id!r} is not a trace id (32 lowercase hex characters)")
    spans = load_trace(dataset().connection, trace_id)
    if not spans:
        abort(404, description=f"no trace {trace_id} in this dataset")
    return spans


def _trace_logs(trace_id: str) -> list[tuple]:
    return (
        dataset()
        .connection.execute(
            "SELECT ts, level, service, message, span_id FROM logs WHERE trace_id = ? ORDER BY ts",
            (trace_id,),
        )
        .fetchall()
    )


@bp.get("/traces/<trace_id>")
def trace(trace_id: str) -> str:
    spans = _existing_trace(trace_id)
    begin = min(s.start for s in spans)
    end = max(s.start + s.duration for s in spans)
    logs = _trace_logs(trace_id)
    tr = time_range(default="now-15m") if request.args.get("from") else None
    return render(
        "trace.html",
        tr,
        page_title=f"Trace {trace_id[:8]}",
        trace_id=trace_id,
        spans=spans,
        begin=begin,
        end=end,
        logs=logs,
        services=sorted({s.service for s in spans}),
        colours=SERVICE_COLOURS,
        log_range={"from": f"{begin - 1:.3f}", "to": f"{end + 1:.3f}"},
    )


@bp.get("/api/traces")
def api_search() -> dict:
    tr = time_range(default="now-15m")
    results, total = search_traces(dataset().connection, tr.start, tr.end, _filter_from_request())
    return {"range": range_json(tr), "total": total, "traces": results}


@bp.get("/api/traces/<trace_id>")
def api_trace(trace_id: str) -> dict:
    spans = _existing_trace(trace_id)
    return {
        "trace_id": trace_id,
        "spans": [{key: getattr(span, key) for key in SPAN_FIELDS} for span in spans],
        "logs": [
            dict(zip(("ts", "level", "service", "message", "span_id"), row, strict=True))
            for row in _trace_logs(trace_id)
        ],
    }
