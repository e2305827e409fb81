"""Server spans and HTTP metrics for every request.

The span is opened before any other request hook and stays current until the request is torn
down, so authentication, the view and every database statement they run are its children.  It is
named after the matched URL rule (``GET /api/v1/workflows/<int:workflow_id>``) rather than the
path, to keep span names and metric labels low-cardinality.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from opentelemetry import context, propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from platform_api.lib import clock, metrics, tracing

UNMATCHED_ROUTE = "unmatched"


def init_app(app: Flask) -> None:
    app.before_request(_start_server_span)
    app.after_request(_record_response)
    app.teardown_request(_finish_server_span)


def current_route() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE


def _start_server_span() -> None:
    route = current_route()
    span = tracing.start_span(
        f"{request.method} {route}",
        kind=SpanKind.SERVER,
        parent=propagate.extract(request.headers),
        attributes={
            "http.request.method": request.method,
            "http.route": route,
            "url.path": request.path,
            "url.query": request.query_string.decode("latin-1"),
            "client.address": request.remote_addr or "",
            "user_agent.original": request.headers.get("User-Agent", ""),
        },
    )
    g.server_span = span
    g.server_span_token = context.attach(set_span_in_context(span))
    g.server_span_started = clock.monotonic()
    metrics.HTTP_SERVER_ACTIVE.inc()


def _record_response(response: Response) -> Response:
    span = g.get("server_span")
    if span is not None:
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
    g.response_status = response.status_code
    return response


def _finish_server_span(error: BaseException | None) -> None:
    span = g.pop("server_span", None)
    if span is None:
        return
    status = g.get("response_status", 500)
    metrics.HTTP_SERVER_DURATION.labels(current_route(), request.method, str(status)).observe(
        clock.monotonic() - g.server_span_started
    )
    metrics.HTTP_SERVER_ACTIVE.dec()
    if error is not None and not tracing.failed(span):
        tracing.record_error(span, error)
    span.end()
    context.detach(g.pop("server_span_token"))
