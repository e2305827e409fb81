"""Structured JSON logging with trace correlation.

Every record becomes one JSON object with the service and its version, host, level, logger,
message, the current trace and span ids, any ``extra=`` fields, and for exceptions the type, message and stack frames.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id

from platform_api.lib.config import Settings

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, host: str, version: str = "unknown") -> None:
        super().__init__()
        self.service = service
        self.host = host
        self.version = version

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The structured record, before serialisation."""
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
            "service.version": self.version,
            "host": self.host,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format_trace_id(span.trace_id)
            entry["span_id"] = format_span_id(span.span_id)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error.type"] = type(error).__name__
            entry["error.message"] = str(error)
            entry["error.stack"] = [
                {"file": frame.filename, "line": frame.lineno, "function": frame.name}
                for frame in traceback.extract_tb(record.exc_info[2])
            ]
        return entry

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), default=str)


def configure_logging(settings: Settings, handler: logging.Handler | None = None) -> logging.Handler:
    """Send every logger's records, as JSON, to ``handler`` (default: standard output)."""
    handler = handler or logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(settings.service_name, settings.host_name, settings.service_version))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Libraries' own INFO chatter; alembic's would repeat its context set-up at every start (the
    # service logs each migration it applies itself, in ``platform_api/migrations/env.py``).
    for noisy in ("werkzeug", "apscheduler", "sqlalchemy", "alembic", "httpx", "faker"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
