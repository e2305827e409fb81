"""Spans and a duration histogram for every statement, and pool gauges, attached to an engine with
:func:`instrument`.

Each statement gets a client span named after its operation and table, carrying ``db.statement``
and the application frame that issued it (``code.*``), which is what makes a slow query traceable
to a line of code.  The same statements (those of requests and jobs, not the process's own
start-up) are timed in ``db_client_operation_duration_seconds`` by operation.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from opentelemetry.context import attach, detach
from opentelemetry.trace import Span, SpanKind, set_span_in_context
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event

from platform_api.lib import clock, metrics, tracing

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE_PREFIX = str(_PACKAGE_ROOT) + "/"
_SKIPPED_PREFIXES = (str(_PACKAGE_ROOT / "lib" / "database") + "/",)


def _calling_frame() -> dict[str, Any]:
    """The innermost application frame outside the database layer."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_PACKAGE_PREFIX) and not filename.startswith(_SKIPPED_PREFIXES):
            return {
                "code.filepath": "platform_api/" + filename[len(_PACKAGE_PREFIX) :],
                "code.function": frame.f_code.co_name,
                "code.lineno": frame.f_lineno,
            }
        frame = frame.f_back
    return {}


_TARGETS = {
    "SELECT": re.compile(r"\bFROM\s+([\w.\"]+)", re.IGNORECASE),
    "DELETE": re.compile(r"\bFROM\s+([\w.\"]+)", re.IGNORECASE),
    "INSERT": re.compile(r"\bINTO\s+([\w.\"]+)", re.IGNORECASE),
    "UPDATE": re.compile(r"^\s*UPDATE\s+([\w.\"]+)", re.IGNORECASE),
}


@lru_cache(maxsize=1024)
def _span_name(statement: str) -> str:
    """``{operation} {table}`` as OpenTelemetry names database spans, e.g. ``SELECT workflows``."""
    words = statement.split(None, 1)
    if not words:
        return "db.query"
    operation = words[0].upper()
    pattern = _TARGETS.get(operation)
    match = pattern.search(statement) if pattern is not None else None
    return f"{operation} {match.group(1).strip(chr(34))}" if match else operation


def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
    if not tracing.in_trace():  # the process's own start-up work: no trace to join
        return
    attributes = {"db.system": "postgresql", "db.statement": statement}
    attributes.update(_calling_frame())
    span = tracing.start_span(_span_name(statement), kind=SpanKind.CLIENT, attributes=attributes)
    conn.info["current_span"] = span
    conn.info["current_span_token"] = attach(set_span_in_context(span))
    conn.info["statement_started"] = clock.monotonic()


def _after_cursor_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
    started = conn.info.pop("statement_started", None)
    if started is not None:
        operation = _span_name(statement).split(" ", 1)[0]
        metrics.DB_CLIENT_OPERATION_DURATION.labels("postgresql", operation).observe(
            clock.monotonic() - started
        )
    span = conn.info.pop("current_span", None)
    if span is not None:
        span.set_attribute("db.response.returned_rows", max(cursor.rowcount, 0))
        _end(conn, span)


def _handle_error(exception_context) -> None:  # type: ignore[no-untyped-def]
    conn = exception_context.connection
    if conn is not None:
        conn.info.pop("statement_started", None)
    span = conn.info.pop("current_span", None) if conn is not None else None
    if span is not None:
        tracing.record_error(span, exception_context.original_exception)
        _end(conn, span)


def _end(conn: Any, span: Span) -> None:
    span.end()
    detach(conn.info.pop("current_span_token"))


class PoolCollector(Collector):
    """Reads the pool's state at scrape time, so the gauges are never stale."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self.engine.pool
        name = getattr(pool, "pool_name", "default")
        count = GaugeMetricFamily(
            "db_client_connection_count",
            "Number of connections that are currently in the state described by the state attribute.",
            labels=["db_client_connection_pool_name", "db_client_connection_state"],
        )
        used = pool.checkedout()  # type: ignore[attr-defined]
        count.add_metric([name, "used"], used)
        count.add_metric([name, "idle"], pool.checkedin())  # type: ignore[attr-defined]
        yield count
        maximum = GaugeMetricFamily(
            "db_client_connection_max",
            "The maximum number of open connections allowed.",
            labels=["db_client_connection_pool_name"],
        )
        maximum.add_metric([name], pool.size() + max(getattr(pool, "_max_overflow", 0), 0))  # type: ignore[attr-defined]
        yield maximum
        pending = GaugeMetricFamily(
            "db_client_connection_pending_requests",
            "The number of current pending requests for an open connection.",
            labels=["db_client_connection_pool_name"],
        )
        pending.add_metric([name], getattr(pool, "waiting", 0))
        yield pending


def instrument(engine: Engine) -> None:
    event.listen(engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(engine, "handle_error", _handle_error)
    metrics.register_collector(PoolCollector(engine))
