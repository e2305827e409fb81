"""One access-log line per request, written while the request's span is still current.

The line carries the trace id (added by the JSON formatter), so any request in the logs can be
opened as a trace.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request

from platform_api.api.middleware.telemetry import current_route
from platform_api.lib import clock

logger = logging.getLogger("platform_api.access")


def init_app(app: Flask) -> None:
    app.before_request(_mark_start)
    app.after_request(_log_request)


def _mark_start() -> None:
    g.request_started = clock.monotonic()


def _log_request(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((clock.monotonic() - started) * 1000, 3) if started is not None else None
    logger.info(
        "request completed",
        extra={
            "http.request.method": request.method,
            "http.route": current_route(),
            "http.response.status_code": response.status_code,
            "duration_ms": duration_ms,
            "tenant_id": g.get("tenant_id"),
        },
    )
    return response
