"""Trace search (service, operation, tags, whole-trace duration) and the trace waterfall."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, request

from observability_ui import charts, params
from observability_ui.request_context import UiError, dataset, showed, time_range
from observability_ui.views.code import code_link
from observability_ui.views.page import InputError, page_range, range_json, render, status

bp = Blueprint("traces", __name__)

MAX_LIMIT = 500
# A duration as Jaeger takes it; the OpenAPI schema states the same pattern, so the layer refuses
# any other form before the search reads one.
DURATION_PATTERN = r"^\s*(?:([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|m)?)?\s*$"  # empty: no bound
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, None: 1e-3}
# One tag: a key, an operator and a value, quoted or not. Only ``=`` can match (below); the other
# operators are read so that the refusal can name them.
_TAG = re.compile(r'^\s*([\w.\-]+)\s*(=~|!~|==|!=|>=|<=|=|<|>)\s*"?([^"]*)"?\s*$')
# Tags are separated by spaces or commas before the next ``key<operator>``, outside quotes, so that
# an unquoted value may hold spaces (``db.statement=SELECT count(*) FROM users``).
_BETWEEN_TAGS = re.compile(r'[,\s]+(?=[\w.\-]+(?:[=<>]|!=|!~))(?=(?:[^"]*"[^"]*")*[^"]*$)')
_RANGE_HINT = (
    "a tag matches one exact value; for a range of values tick errors only, or filter the Logs"
    " page with a query like {} | http.response.status_code >= 500"
)
_REGEX_HINT = (
    "a tag matches one whole value exactly, not a pattern; type the whole value, or pick an Operation"
)
# What each operator but ``=`` would have meant, and what to do instead: a tag matches one value.
_CANNOT_MATCH = {
    "=~": _REGEX_HINT,
    "!~": _REGEX_HINT,
    "==": "write a single = between key and value",
    "!=": _RANGE_HINT,
    ">=": _RANGE_HINT,
    "<=": _RANGE_HINT,
    "<": _RANGE_HINT,
    ">": _RANGE_HINT,
}
# Jaeger's tag for a span that failed; here it is the span's status, so it means "errors only".
ERROR_TAG = ("error", "true")
SERVICE_COLOURS = {"gateway": "#8c7ae6", "platform-api": "#5aa9e6"}
# A span with more children than this starts collapsed, and so do those children: a job fanning out
# over 80 tenants opens as one row, then one row per tenant, not as hundreds of rows.
COLLAPSE_ABOVE = 20
# Trace search orders, as Jaeger's: key -> (label, ORDER BY over the search's result columns).
SORTS = {
    "recent": ("Most recent", "start DESC"),
    "longest": ("Longest first", "duration DESC, start DESC"),
    "shortest": ("Shortest first", "duration, start DESC"),
    "most_spans": ("Most spans", "spans DESC, start DESC"),
}


def parse_duration(raw: str) -> float | None:
    """Seconds for ``150ms``, ``2s``, ``1.5m`` or a bare number of milliseconds, as Jaeger accepts;
    None for an empty one.  Only :data:`DURATION_PATTERN` reaches here (the schema states it)."""
    match = _DURATION.fullmatch(raw)
    assert match is not None, "the validation layer admits only DURATION_PATTERN"
    amount, unit = match.groups()
    return None if amount is None else float(amount) * _UNITS[unit]


def _parse_tag(part: str) -> tuple[str, str]:
    """One ``key=value``; any form no span could match is refused, saying why, rather than
    searched for and answered with nothing."""
    match = _TAG.match(part)
    if not match:
        raise UiError(f"tags: cannot read {part!r}; use key=value, e.g. http.response.status_code=503")
    key, operator, value = match.groups()
    if operator != "=":
        raise UiError(f"tags: cannot match {part.strip()!r}: {_CANNOT_MATCH[operator]}")
    if not value.strip():
        raise UiError(f"tags: {key} has no value; use key=value, e.g. http.response.status_code=503")
    if key == ERROR_TAG[0]:
        if value.lower() != ERROR_TAG[1]:
            raise UiError(f"tags: only error=true can be searched (traces with an error span), not {part!r}")
        return ERROR_TAG
    return key, value


def parse_tags(raw: str) -> list[tuple[str, str]]:
    """``key=value`` pairs separated by spaces or commas, e.g. ``http.response.status_code=503``;
    Jaeger's ``error=true`` comes back as :data:`ERROR_TAG`."""
    return [_parse_tag(part) for part in _BETWEEN_TAGS.split(raw.strip()) if part]


def tag_keys(db) -> list[str]:
    """Every attribute key spans carry, sorted: a span has its template's keys, so the templates
    tell without reading every span."""
    rows = db.execute(
        "SELECT DISTINCT j.key FROM span_templates, json_each(span_templates.attributes) j ORDER BY 1"
    )
    return [row[0] for row in rows]


def check_tag_keys(db, tags: list[tuple[str, str]]) -> None:
    """Refuse a key no span has (``http.status_code`` for ``http.response.status_code``): it would
    find nothing, which looks like no trace failing that way."""
    known = tag_keys(db) if tags else []
    for key, _ in tags:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"the tags spans carry are {', '.join(known)}"
            raise UiError(f"tags: no span in this recording has the tag {key!r}; {hint}")


@dataclass
class TraceFilter:
    service: str = ""
    operation: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)
    min_duration: float | None = None
    max_duration: float | None = None
    errors_only: bool = False
    limit: int = 50
    sort: str = "recent"


# The search reads the span tables (docs/dataset.md) rather than the spans view: the partial index
# on root spans (start, duration) serves the range, a trace's spans are found by the index on their
# trace's number, and a span's service and name are its template's.
#
# A trace lasts, as Jaeger shows it, from its earliest span's start to its latest span's end: a
# request the gateway gave up on after 30 s lasts as long as the application kept working on it.
# That is never shorter than the root span, so the root's own duration (in the index) decides
# without reading the trace whenever it already settles a bound.
TRACE_DURATION = (
    "(SELECT max(c.start + c.duration) - min(c.start) FROM span_records c WHERE c.trace = r.trace)"
)
_RESULT = (
    f"SELECT t.trace_id, p.service, p.name, r.start AS start, {TRACE_DURATION} AS duration, r.status,"
    " (SELECT count(*) FROM span_records c WHERE c.trace = r.trace) AS spans,"
    " (SELECT count(*) FROM span_records c WHERE c.trace = r.trace AND c.status = 'error') AS errors"
    " FROM span_records r JOIN traces t ON t.id = r.trace JOIN span_templates p ON p.id = r.template"
)
# A span's value of a key is its own one, if it has one, else its template's (which holds a
# placeholder where spans have their own): what the spans view's json_patch gives, key by key.
_TAG_VALUE = "CAST(coalesce(json_extract(s.own_attributes, ?), json_extract(sp.attributes, ?)) AS TEXT)"


def _span_clause(f: TraceFilter) -> tuple[str, list[Any]]:
    """A span of the root ``r``'s trace with the filter's service, operation and every tag."""
    inner, params = ["s.trace = r.trace"], []
    if f.service:
        inner.append("sp.service = ?")
        params.append(f.service)
    if f.operation:
        inner.append("sp.name = ?")
        params.append(f.operation)
    for key, value in f.tags:
        inner.append(f"{_TAG_VALUE} = ?")
        params += [f'$."{key}"', f'$."{key}"', value]
    joined = " AND ".join(inner)
    return (
        f"EXISTS (SELECT 1 FROM span_records s JOIN span_templates sp ON sp.id = s.template WHERE {joined})",
        params,
    )


def _where(start: float, end: float, f: TraceFilter) -> tuple[str, list[Any]]:
    """The search's conditions on a root span ``r``, and their parameters."""
    clauses = ["r.parent_span_id IS NULL", "r.start BETWEEN ? AND ?"]
    params: list[Any] = [start, end]
    if f.min_duration is not None:
        clauses.append(f"(r.duration >= ? OR {TRACE_DURATION} >= ?)")
        params += [f.min_duration, f.min_duration]
    if f.max_duration is not None:
        clauses.append(f"r.duration <= ? AND {TRACE_DURATION} <= ?")
        params += [f.max_duration, f.max_duration]
    if f.errors_only:
        clauses.append("EXISTS (SELECT 1 FROM span_records e WHERE e.trace = r.trace AND e.status = 'error')")
    if f.service or f.operation or f.tags:
        clause, clause_params = _span_clause(f)
        clauses.append(clause)
        params += clause_params
    return " AND ".join(clauses), params


def search_traces(db, start: float, end: float, f: TraceFilter) -> tuple[list[dict[str, Any]], int]:
    """Root spans of traces in the range matching the filter, in the filter's order, and how many
    match in all. Most recent walks the root index backwards and stops at the limit; the other
    orders rank every matching root of the range."""
    where, params = _where(start, end, f)
    total = db.execute(f"SELECT count(*) FROM span_records r WHERE {where}", params).fetchone()[0]
    rows = db.execute(
        f"{_RESULT} WHERE {where} ORDER BY {SORTS[f.sort][1]} LIMIT ?", [*params, f.limit]
    ).fetchall()
    keys = ("trace_id", "service", "name", "start", "duration", "status", "spans", "errors")
    return [dict(zip(keys, row, strict=True)) for row in rows], total


def operations(db, service: str) -> list[str]:
    """Every span name (of ``service``'s spans, when given), sorted: what ``operation`` can match."""
    where, args = ("WHERE service = ?", (service,)) if service else ("", ())
    return [
        row[0] for row in db.execute(f"SELECT DISTINCT name FROM span_templates {where} ORDER BY 1", args)
    ]


def _filter_from_request() -> TraceFilter:
    """The search the request asks for; a :class:`UiError` for a filter that could match nothing
    for a reason other than there being no such trace (an unknown service, operation or tag)."""
    tags = parse_tags(params.value("tags", ""))
    found = TraceFilter(
        service=params.value("service", ""),
        operation=params.value("operation", ""),
        tags=[tag for tag in tags if tag != ERROR_TAG],
        min_duration=parse_duration(params.value("min_duration", "")),
        max_duration=parse_duration(params.value("max_duration", "")),
        errors_only=params.value("errors") == "1" or ERROR_TAG in tags,
        limit=params.value("limit", 50),
        sort=params.value("sort", "recent"),
    )
    if (
        found.min_duration is not None
        and found.max_duration is not None
        and found.max_duration < found.min_duration
    ):
        raise UiError("max_duration is below min_duration")
    db = dataset().connection
    params.known("service", found.service, dataset().span_services())
    params.known("operation", found.operation, operations(db, found.service))
    check_tag_keys(db, found.tags)
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
    tr, range_error = page_range()
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
        sorts=SORTS,
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
    children: list[SpanView] = field(default_factory=list)
    below: int = 0  # spans in the subtree under this one
    errors_below: int = 0  # of which have errors, for a collapsed row to say so
    collapsed: bool = False  # the waterfall starts with its descendants hidden


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


def _tree(spans: list[SpanView]) -> list[SpanView]:
    """Link each span to its children, in the order given, and return the roots: the spans whose
    parent is not in the trace (its root, and any whose parent was never recorded)."""
    by_id = {span.span_id: span for span in spans}
    roots = []
    for span in spans:
        parent = by_id.get(span.parent_id) if span.parent_id else None
        (parent.children if parent else roots).append(span)
    return roots


def _depth_first(roots: list[SpanView]) -> list[SpanView]:
    ordered: list[SpanView] = []
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        span.depth = depth
        ordered.append(span)
        stack.extend((child, depth + 1) for child in reversed(span.children))
    return ordered


def _fold(ordered: list[SpanView]) -> None:
    """Count each subtree and collapse the large sibling groups (:data:`COLLAPSE_ABOVE`): their
    parent and each of its children start collapsed, so opening the parent shows one row per child."""
    for span in reversed(ordered):  # children before their parents
        span.below = sum(1 + child.below for child in span.children)
        span.errors_below = sum((child.status == "error") + child.errors_below for child in span.children)
        if len(span.children) > COLLAPSE_ABOVE:
            for member in (span, *span.children):
                member.collapsed = bool(member.children)


def load_trace(db, trace_id: str) -> list[SpanView]:
    """The trace's spans in depth-first order, laid out for a waterfall and linked into a tree
    (``children``). Siblings are in start order; those starting at the same instant end first
    first, so a pool checkout (``db.connection.acquire``, usually 0 s) comes before the statement
    it made possible; the span id breaks the remaining ties, so the order is always the same."""
    rows = db.execute(
        "SELECT span_id, parent_span_id, service, name, kind, start, duration, status, status_message, attributes, events"
        " FROM spans WHERE trace_id = ? ORDER BY start, duration, span_id",
        (trace_id,),
    ).fetchall()
    spans = [SpanView(*row[:9], attributes=json.loads(row[9]), events=json.loads(row[10])) for row in rows]
    if not spans:
        return []
    ordered = _depth_first(_tree(spans))
    _fold(ordered)
    begin = min(s.start for s in spans)
    total = max(max(s.start + s.duration for s in spans) - begin, 1e-6)
    for span in ordered:
        span.offset_pct = 100 * (span.start - begin) / total
        span.width_pct = max(100 * span.duration / total, 0.2)
        if "code.filepath" in span.attributes:
            span.code_url = code_link(span.attributes["code.filepath"], span.attributes.get("code.lineno"))
    return ordered


def _rows_shown(spans: list[SpanView]) -> int:
    """How many of these spans and their descendants the waterfall opens with: none under a
    collapsed span."""
    return sum(1 + (0 if span.collapsed else _rows_shown(span.children)) for span in spans)


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


def _extent(spans: list[SpanView]) -> tuple[float, float]:
    """When the trace began and ended: the time its page and its API show."""
    return min(s.start for s in spans), max(s.start + s.duration for s in spans)


@bp.get("/traces/<trace_id>")
def trace(trace_id: str) -> str:
    # the range only travels on, in the page's links; a bad one is refused before the trace is sought
    tr = time_range() if params.value("from") or params.value("to") else None
    spans = _existing_trace(trace_id)
    roots = [s for s in spans if s.depth == 0]
    begin, end = _extent(spans)
    showed(begin, end)
    logs = _trace_logs(trace_id)
    return render(
        "trace.html",
        tr,
        page_title=f"Trace {trace_id[:8]}",
        trace_id=trace_id,
        spans=spans,
        errors=sum(span.status == "error" for span in spans),  # counted as the trace list counts them
        roots=roots,
        hidden=len(spans) - _rows_shown(roots),
        collapse_above=COLLAPSE_ABOVE,
        begin=begin,
        end=end,
        logs=logs,
        services=sorted({s.service for s in spans}),
        colours=SERVICE_COLOURS,
        log_range={"from": f"{begin - 1:.3f}", "to": f"{end + 1:.3f}"},
    )


@bp.get("/api/traces")
def api_search() -> dict:
    tr = time_range()
    f = _filter_from_request()
    results, total = search_traces(dataset().connection, tr.start, tr.end, f)
    return {"range": range_json(tr), "sort": f.sort, "total": total, "traces": results}


@bp.get("/api/traces/<trace_id>")
def api_trace(trace_id: str) -> dict:
    spans = _existing_trace(trace_id)
    showed(*_extent(spans))
    return {
        "trace_id": trace_id,
        "spans": [{key: getattr(span, key) for key in SPAN_FIELDS} for span in spans],
        "logs": [
            dict(zip(("ts", "level", "service", "message", "span_id"), row, strict=True))
            for row in _trace_logs(trace_id)
        ],
    }
