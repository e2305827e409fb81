"""Prometheus's HTTP API over the recording's metrics, for the tools an SRE already has.

``promtool query``, a Grafana Prometheus data source or a script point at the platform's URL and
speak ``/api/v1/*`` as to a Prometheus: GET or POST (form-encoded, as promtool and Grafana send
it), Prometheus's parameters and envelope, values as strings and times in whole milliseconds
(:mod:`observability_ui.prometheus_wire`).  Queries run on the platform's own PromQL engine, the
one the metrics explorer uses; "now", where a parameter defaults to it, is the end of the
recording.  In an interview a request carries the candidate's cookie or their API token
(:mod:`observability_ui.candidate_session`) and is recorded like every API call.

Errors are Prometheus's: ``bad_data`` (400) for a parameter or query that cannot be read,
``execution`` (422) for a query that cannot be evaluated, ``timeout`` (503) past the time budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import orjson
import promql_parser
from flask import Blueprint, Response, g

from observability_ui import params, prometheus_wire
from observability_ui.prometheus_wire import Millis, WireError
from observability_ui.query import promql
from observability_ui.query.promql_eval import LOOKBACK_DELTA
from observability_ui.query.promql_model import Series
from observability_ui.query.promql_store import SeriesMeta
from observability_ui.request_context import UiError, dataset
from observability_ui.views.metrics_common import store
from observability_ui.views.metrics_explorer import no_series_warnings
from obsim.timerange import TimeRange, iso

bp = Blueprint("prometheus_api", __name__)

PREFIX = "/api/v1/"
MAX_POINTS = promql.MAX_POINTS  # per series, as Prometheus's range queries
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TRUNCATED = "results truncated due to limit"
#: Prometheus's errorType and HTTP status for the ways a request fails
ERROR_TYPES = {400: "bad_data", 404: "not_found", 422: "execution", 503: "timeout"}


def is_prometheus_api(path: str) -> bool:
    """Whether ``path`` is one of this module's: its answers, errors included, are Prometheus's."""
    return path.startswith(PREFIX)


def error_response(message: str, status: int) -> Response:
    """Prometheus's error envelope; a status it has no errorType for (403: the interview's clock
    or a missing token) is named by its HTTP reason."""
    error_type = ERROR_TYPES.get(status) or {401: "unauthorized", 403: "forbidden"}.get(status, "internal")
    body = {"status": "error", "errorType": error_type, "error": message}
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def _success(data: bytes, warnings: Sequence[str] = ()) -> Response:
    """Prometheus's success envelope around ``data`` (JSON already written); ``warnings`` only when
    there are some, as Prometheus sends them."""
    body = b'{"status":"success","data":' + data
    if warnings:
        body += b',"warnings":' + orjson.dumps(list(warnings))
    return Response(body + b"}", mimetype="application/json")


def _time(name: str, default: Millis | None = None) -> Millis:
    raw = params.value(name)
    if raw is None:
        if default is None:
            raise UiError(f"invalid parameter {name!r}: missing")
        return default
    try:
        return prometheus_wire.parse_time(raw)
    except WireError as error:
        raise UiError(f"invalid parameter {name!r}: {error}") from None


def _recording_ms() -> tuple[Millis, Millis]:
    start, end = dataset().window()
    return round(start * 1000), round(end * 1000)


def _limit() -> int:
    """``limit``: at most this many series (or names); 0, the default, is no limit."""
    return int(params.value("limit", 0))


def _timeout() -> None:
    """``timeout``: this request's queries stop sooner than the platform's budget when asked to."""
    raw = params.value("timeout")
    if raw is None:
        return
    try:
        millis = prometheus_wire.parse_duration(raw)
    except WireError as error:
        raise UiError(f"invalid parameter 'timeout': {error}") from None
    if millis <= 0:
        raise UiError("invalid parameter 'timeout': must be positive")
    g.budget_s = millis / 1000


def _shown(start: Millis, end: Millis) -> None:
    """What the call looked at, for the interview's record (as a page's time range is)."""
    g.time_range = TimeRange(start / 1000, end / 1000, iso(start / 1000), iso(end / 1000))


def _limited(items: list, warnings: list[str]) -> list:
    limit = _limit()
    if limit and len(items) > limit:
        warnings.append(TRUNCATED)
        return items[:limit]
    return items


def _parsed(expr: str) -> promql_parser.Expr:
    try:
        return promql.parse(expr)
    except promql.QueryError as error:
        raise UiError(_positioned(error)) from None


def _positioned(error: promql.QueryError) -> str:
    return error.message + (f" (at position {error.position})" if error.position is not None else "")


def _labels_json(labels: dict[str, str]) -> bytes:
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)


def _point(millis: Millis, number: float) -> bytes:
    return f'[{prometheus_wire.timestamp(millis)},"{prometheus_wire.value(number)}"]'.encode()


def _millis(seconds: float) -> Millis:
    return round(seconds * 1000)


@bp.route("/api/v1/query", methods=["GET", "POST"])
def query() -> Response:
    expr = params.value("query")
    _parsed(expr)
    _timeout()
    at = _time("time", _recording_ms()[1])
    _shown(at, at)
    try:
        kind, result = promql.query_instant_typed(store(), expr, at / 1000, refuse_far=False)
    except promql.QueryError as error:
        raise UiError(_positioned(error), status=422) from None
    warnings = no_series_warnings(expr) + _outside(at, at)
    if kind == "scalar":
        data = b'{"resultType":"scalar","result":' + _point(at, result[0].points[0][1]) + b"}"
        return _success(data, warnings)
    items = [
        b'{"metric":' + _labels_json(s.labels) + b',"value":' + _point(at, s.points[0][1]) + b"}"
        for s in _limited(result, warnings)
    ]
    return _success(b'{"resultType":"vector","result":[' + b",".join(items) + b"]}", warnings)


@bp.route("/api/v1/query_range", methods=["GET", "POST"])
def query_range() -> Response:
    expr = params.value("query")
    start, end = _time("start"), _time("end")
    step = _step()
    if end < start:
        raise UiError("end timestamp must not be before start time")
    if (end - start) / step > MAX_POINTS:
        raise UiError(
            f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    _parsed(expr)
    _timeout()
    _shown(start, end)
    try:
        result = promql.query_range(store(), expr, start / 1000, end / 1000, step / 1000, refuse_far=False)
    except promql.QueryError as error:
        raise UiError(_positioned(error), status=422) from None
    warnings = no_series_warnings(expr) + _outside(start, end)
    items = [_matrix_series(s, start, step) for s in _limited(result, warnings)]
    return _success(b'{"resultType":"matrix","result":[' + b",".join(items) + b"]}", warnings)


def _outside(start: Millis, end: Millis) -> list[str]:
    """A warning when no evaluation can see a sample: the times lie wholly outside the recording
    (and its lookback).  Prometheus answers such a query with nothing, and so does this API, but a
    client that asks at the real "now" (Grafana, promtool without ``--time``) should learn why."""
    first, last = _recording_ms()
    if end >= first and start <= last + round(LOOKBACK_DELTA * 1000):
        return []
    return [
        f"the recording spans {iso(first / 1000)} to {iso(last / 1000)}; "
        f"{iso(start / 1000)}{'' if start == end else ' to ' + iso(end / 1000)} is outside it: ask within it"
    ]


def _step() -> Millis:
    try:
        step = prometheus_wire.parse_duration(params.value("step"))
    except WireError as error:
        raise UiError(f"invalid parameter 'step': {error}") from None
    if step <= 0:
        raise UiError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    return step


def _matrix_series(series: Series, start: Millis, step: Millis) -> bytes:
    """One series of a range query; its times are the grid's, ``start + k * step`` milliseconds
    (the engine's float seconds are only ever within a rounding of them)."""
    points = b",".join(
        _point(start + round((_millis(t) - start) / step) * step, number) for t, number in series.points
    )
    return b'{"metric":' + _labels_json(series.labels) + b',"values":[' + points + b"]}"


# -- metadata ----------------------------------------------------------------------------------------
def _matched() -> list[SeriesMeta]:
    """The series any ``match[]`` selector selects (every series without one), each once, that
    have a sample between ``start`` and ``end`` (default: the whole recording)."""
    selectors = params.value("match[]", [])
    if selectors:
        found: dict[int, SeriesMeta] = {}
        for text in selectors:
            for meta in store().select(_selector(text), text):
                found.setdefault(meta.id, meta)
        metas = list(found.values())
    else:
        metas = [meta for name in store().metric_names() for meta in store().series(name)]
    first, last = _recording_ms()
    start, end = _time("start", prometheus_wire.LOWEST_MS), _time("end", prometheus_wire.HIGHEST_MS)
    if end < start:
        raise UiError("end timestamp must not be before start time")
    _shown(max(start, first), min(end, last))
    if start <= first and end >= last:
        return metas
    return [meta for meta, present in zip(metas, _sampled_within(metas, start, end), strict=True) if present]


def _selector(text: str) -> promql_parser.VectorSelector:
    tree = _parsed(text)
    if not isinstance(tree, promql_parser.VectorSelector):
        raise UiError(
            f"invalid parameter 'match[]': {text!r} is not a series selector such as up{{job=\"x\"}}"
        )
    return tree


def _sampled_within(metas: list[SeriesMeta], start: Millis, end: Millis) -> Iterable[bool]:
    for samples in store().arrays(metas):
        times = samples.timestamps
        low = np.searchsorted(times, start / 1000 - 5e-4, side="left")
        yield bool(low < len(times) and times[low] <= end / 1000 + 5e-4)


@bp.route("/api/v1/series", methods=["GET", "POST"])
def series() -> Response:
    if not params.value("match[]"):
        raise UiError("no match[] parameter provided")
    warnings: list[str] = []
    metas = sorted(_matched(), key=lambda meta: sorted(meta.labels.items()))
    items = [_labels_json(meta.labels) for meta in _limited(metas, warnings)]
    return _success(b"[" + b",".join(items) + b"]", warnings)


@bp.route("/api/v1/labels", methods=["GET", "POST"])
def labels() -> Response:
    warnings: list[str] = []
    names = sorted({name for meta in _matched() for name in meta.labels})
    return _success(orjson.dumps(_limited(names, warnings)), warnings)


@bp.get("/api/v1/label/<name>/values")
def label_values(name: str) -> Response:
    if not LABEL_NAME.fullmatch(name):
        raise UiError(f"invalid label name: {name!r}")
    warnings: list[str] = []
    values = sorted({meta.labels[name] for meta in _matched() if name in meta.labels})
    return _success(orjson.dumps(_limited(values, warnings)), warnings)


@bp.get("/api/v1/metadata")
def metadata() -> Response:
    """Each metric family's type, help and unit, as a scrape declared them (``metric``: one of them)."""
    metric = params.value("metric")
    rows = dataset().connection.execute(
        "SELECT name, type, help FROM metric_families"
        + (" WHERE name = ?" if metric else "")
        + " ORDER BY name",
        (metric,) if metric else (),
    )
    warnings: list[str] = []
    found = {name: [{"type": kind, "help": text, "unit": ""}] for name, kind, text in rows}
    kept = dict(_limited(list(found.items()), warnings))
    return _success(orjson.dumps(kept), warnings)
