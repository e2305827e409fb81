"""Rendering exceptions as JSON error responses.

Clients always get a JSON body with an ``error`` message.  Server-side failures (5xx) are logged
with their traceback and recorded on the request's span; client errors are not logged, the access
log already has them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from opentelemetry import trace
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from platform_api.lib import tracing
from platform_api.lib.errors import AppError
from platform_api.lib.http_client import ExternalServiceError

logger = logging.getLogger(__name__)

ErrorResponse = tuple[dict[str, Any], int]


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(ExternalServiceError, _upstream_error)
    app.register_error_handler(PoolTimeoutError, _database_unavailable)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(Exception, _internal_error)


def _http_error(error: HTTPException) -> ErrorResponse:
    return {"error": error.name}, error.code or 500


def _app_error(error: AppError) -> ErrorResponse:
    if error.status_code >= 500:
        _log_server_error("request failed", error)
    return {"error": error.message, **error.details()}, error.status_code


def _upstream_error(error: ExternalServiceError) -> ErrorResponse:
    _log_server_error("upstream service error", error, **{"peer.service": error.service})
    return {"error": "Upstream service unavailable", "service": error.service}, 502


def _database_unavailable(error: Exception) -> ErrorResponse:
    _log_server_error("database error", error)
    return {"error": "Database unavailable"}, 503


def _internal_error(error: Exception) -> ErrorResponse:
    _log_server_error("unhandled exception", error)
    return {"error": "Internal server error"}, 500


def _log_server_error(message: str, error: BaseException, **fields: Any) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        tracing.record_error(span, error)
    logger.error(message, exc_info=error, extra=fields)
