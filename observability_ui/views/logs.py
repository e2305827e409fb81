"""Logs: a Loki-style query or form filters, newest first (or oldest: ``direction``), a volume histogram by level, details.

Nothing is silently truncated: the page says how many of how many matches it shows and pages
through the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote_plus, urlencode

from flask import Blueprint, request, url_for

from observability_ui import charts, params
from observability_ui.query import logql, logql_metric
from observability_ui.query.promql_model import Series
from observability_ui.request_context import UiError, dataset, time_range
from observability_ui.views.code import code_link
from observability_ui.views.metrics_common import series_name, store
from observability_ui.views.page import InputError, page_range, range_args, range_json, render, status
from obsim.timerange import TimeRange

bp = Blueprint("logs", __name__)

PAGE_SIZE = 100
URL_SAFE = "!$'()*,/:;?@"  # what werkzeug leaves unescaped in a query string, as url_for builds it
MAX_OFFSET = 1_000_000_000  # past any recording's records, and far inside SQLite's 64-bit integers
LEVEL_COLOURS = {
    "debug": "#6b7785",
    "info": "#5aa9e6",
    "warning": "#e5b453",
    "error": "#f0616d",
    "critical": "#c03fd0",
}


FORM_FIELDS = ("service", "level", "contains", "trace_id")
MAX_SERIES_DRAWN = 60


def _form() -> dict[str, str]:
    """The filter form's values; refused beside a query, which they would contradict or be dropped by."""
    form = {key: params.value(key, "").strip() for key in FORM_FIELDS}
    given = [key for key, value in form.items() if value]
    if params.value("query", "").strip() and given:
        raise UiError(
            f"give either query or the filters ({', '.join(FORM_FIELDS)}), not both: "
            f"add {', '.join(given)} to the query instead"
        )
    return form


def _read_query() -> tuple[str, logql.LogQuery]:
    """The query box's text, or the query the filter form builds; :class:`logql.LogQueryError` when
    it cannot be used, :class:`UiError` for a filter naming what the recording lacks, or for both
    a query and filters."""
    text = params.value("query", "").strip()
    form = _form()
    if text:
        return text, logql.parse(text)
    params.known("service", form["service"], log_services())
    built = logql.build(**{key: value or None for key, value in form.items()})
    return str(built), built


def log_services() -> list[str]:
    """The services that logged, sorted: the filter form's choices.  From the dataset's log arrays;
    a live recording's by a scan of every record (a quarter of a second on a three-hour recording),
    kept with the dataset's answers."""
    streams = store().log_streams()
    if streams is not None:
        return streams.services()

    def distinct() -> list[str]:
        return [r[0] for r in dataset().connection.execute("SELECT DISTINCT service FROM logs ORDER BY 1")]

    return store().answer(("log services",), distinct, len)


def _query() -> tuple[str, logql.LogQuery]:
    """The query for the JSON API, whose error text carries the position."""
    try:
        return _read_query()
    except logql.LogQueryError as error:
        where = f" (at position {error.position})" if error.position is not None else ""
        raise UiError(f"{error.message}{where}") from None


#: what a kept answer weighs against the dataset's answers' bound (``MetricStore.answer``, counted in
#: chart points of about 80 bytes): a log record with its attributes is about a kilobyte
POINTS_PER_RECORD = 12


def _search(query: logql.LogQuery, tr: TimeRange, offset: int) -> logql.LogPage:
    """A page of matches in the order asked (``direction``), kept with the dataset's answers:
    candidates page through the same ones."""
    direction = params.value("direction", "") or "backward"

    def search() -> logql.LogPage:
        return logql.search(
            dataset().connection,
            query,
            tr.start,
            tr.end,
            limit=PAGE_SIZE,
            offset=offset,
            direction=direction,
            streams=store().log_streams(),
        )

    try:
        return store().answer(
            ("logs", query, tr.start, tr.end, offset, direction),
            search,
            lambda page: POINTS_PER_RECORD * len(page.entries),
        )
    except logql.LogQueryError as error:
        raise UiError(error.message) from None


def _volume(query: logql.LogQuery, tr: TimeRange) -> tuple[list[float], dict[str, list[int]]]:
    """Matches per level in about one bucket a minute (20 to 120 buckets), kept with the dataset's
    answers (a scan of every record in the range)."""
    buckets = min(120, max(20, int(tr.span // 60)))

    def volume() -> tuple[list[float], dict[str, list[int]]]:
        return logql.volume(
            dataset().connection, query, tr.start, tr.end, buckets=buckets, streams=store().log_streams()
        )

    try:
        return store().answer(
            ("log volume", query, tr.start, tr.end, buckets),
            volume,
            lambda found: buckets * (1 + len(found[1])),
        )
    except logql.LogQueryError as error:
        raise UiError(error.message) from None


def with_filter(query: str, field: str, value: object, negate: bool = False) -> str:
    """The query with one more field filter, for the detail pane's +/- buttons."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'{query} | {field}{"!=" if negate else "="}"{text}"'


def filter_links(query: str, tr: TimeRange) -> Callable[..., str]:
    """The detail pane's +/- links: the page with ``query`` plus one field filter (:func:`with_filter`),
    over ``tr``.

    The URL ``url_for`` builds, but from one ``url_for``: a page of 100 records has about 2,000 of
    these links, and routing each through ``url_for`` was most of the page's time.  The query and
    the range are escaped once (escaping goes character by character, so the escaped parts join)."""
    head = f"{url_for('logs.page')}?query={quote_plus(f'{query} | ', safe=URL_SAFE)}"
    kept = urlencode(
        [(key, value) for key, value in range_args(tr).items() if value is not None], safe=URL_SAFE
    )
    tail = f"&{kept}" if kept else ""

    def link(field: str, value: object, negate: bool = False) -> str:
        added = with_filter("", field, value, negate).removeprefix(" | ")
        return f"{head}{quote_plus(added, safe=URL_SAFE)}{tail}"

    return link


def _volume_chart(query: logql.LogQuery, tr: TimeRange) -> str:
    starts, counts = _volume(query, tr)
    return charts.figure(
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
        x_range=(tr.start, tr.end),
        barmode="stack",
        bargap=0.05,
    )


def _metric_series(text: str, tr: TimeRange, step: float) -> list[Series]:
    """A LogQL metric query over the range (:mod:`logql_metric`), the filter form left empty."""
    _form()
    return logql_metric.query_range(dataset().connection, text, tr.start, tr.end, step)


def _metric_chart(text: str, tr: TimeRange) -> str:
    series = _metric_series(text, tr, tr.step())
    return charts.figure(
        [charts.line(series_name(s.labels), s.points) for s in series[:MAX_SERIES_DRAWN]],
        x_range=(tr.start, tr.end),
    )


@bp.get("/logs")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    text = request.args.get("query", "").strip()  # as typed, to show back in the query box
    found = volume_chart = metric_chart = error = None
    try:
        if logql_metric.is_metric_query(text):
            metric_chart = _metric_chart(text, tr)
        else:
            text, query = _read_query()
            found = _search(query, tr, params.value("offset", 0))
            volume_chart = _volume_chart(query, tr)
    except logql.LogQueryError as problem:
        error = InputError(problem.message, text, problem.position)
    except UiError as problem:
        error = InputError(problem.message)
    services = log_services()
    body = render(
        "logs.html",
        tr,
        range_error,
        page_title="Logs",
        query_text=text,
        error=error,
        page=found,
        volume_chart=volume_chart,
        metric_chart=metric_chart,
        services=services,
        levels=logql.LEVELS,
        form={key: request.args.get(key, "") for key in FORM_FIELDS},
        filter_link=filter_links(text, tr),
        code_link=functools.cache(code_link),  # a page's stack traces repeat the same frames
        page_size=PAGE_SIZE,
        direction=request.args.get("direction", "") or "backward",
    )
    return body, status(range_error, error)


@bp.get("/api/logs")
def api_search() -> dict:
    tr = time_range()
    text, query = _query()
    found = _search(query, tr, params.value("offset", 0))
    return {
        "range": range_json(tr),
        "query": text,
        "total": found.total,
        "offset": found.offset,
        "limit": PAGE_SIZE,
        "direction": params.value("direction", "") or "backward",
        "entries": [entry.__dict__ for entry in found.entries],
    }


@bp.get("/api/logs/volume")
def api_volume() -> dict:
    tr = time_range()
    text, query = _query()
    starts, counts = _volume(query, tr)
    return {"range": range_json(tr), "query": text, "bucket_starts": starts, "levels": counts}


@bp.get("/api/logs/query_range")
def api_query_range() -> dict:
    """A LogQL metric query over the range at ``step`` seconds (default: about 240 points)."""
    tr = time_range()
    text = params.value("query")
    step = params.value("step", tr.step())
    if tr.span / step > logql_metric.MAX_STEPS:
        raise UiError(
            f"step {step:g} s gives more than {logql_metric.MAX_STEPS} points over this range; use a larger step"
        )
    try:
        series = _metric_series(text, tr, step)
    except logql.LogQueryError as error:
        where = f" (at position {error.position})" if error.position is not None else ""
        raise UiError(f"{error.message}{where}") from None
    return {
        "range": range_json(tr),
        "step": step,
        "series": [{"labels": s.labels, "points": s.points} for s in series],
    }
