"""Distributed tracing with W3C trace context.

A small tracer: spans are plain objects handed to an exporter when they end, the
current span lives in a context variable (so it follows requests and threads), and incoming
``traceparent`` headers continue the caller's trace.  The exporter and the id source are set once
at start-up with :func:`configure`.
"""

from __future__ import annotations

import os
import traceback
from contextvars import ContextVar
from typing import Any, Protocol

from platform_api.lib import clock


class SpanExporter(Protocol):
    def export(self, span: Span) -> None: ...


class IdGenerator(Protocol):
    def trace_id(self) -> str: ...

    def span_id(self) -> str: ...


class RandomIds:
    """Ids from the operating system's randomness."""

    def trace_id(self) -> str:
        return os.urandom(16).hex()

    def span_id(self) -> str:
        return os.urandom(8).hex()


class _DiscardingExporter:
    def export(self, span: Span) -> None:
        return None


_service_name = "platform-api"
_service_version = "unknown"
_exporter: SpanExporter = _DiscardingExporter()
_ids: IdGenerator = RandomIds()
_current: ContextVar[Span | None] = ContextVar("current_span", default=None)


def configure(
    service_name: str,
    exporter: SpanExporter | None = None,
    ids: IdGenerator | None = None,
    service_version: str = "unknown",
) -> None:
    global _service_name, _service_version, _exporter, _ids
    _service_name = service_name
    _service_version = service_version
    _exporter = exporter or _DiscardingExporter()
    _ids = ids or RandomIds()


class Span:
    __slots__ = (
        "_token",
        "attributes",
        "end",
        "events",
        "kind",
        "name",
        "parent_id",
        "service",
        "span_id",
        "start",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(
        self, name: str, kind: str, trace_id: str, parent_id: str | None, attributes: dict[str, Any]
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = _ids.span_id()
        self.parent_id = parent_id
        self.service = _service_name
        self.attributes = attributes
        self.events: list[tuple[str, float, dict[str, Any]]] = []
        self.status = "unset"
        self.status_message: str | None = None
        self.start = clock.now()
        self.end = self.start
        self._token: Any = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        self.events.append((name, clock.now(), attributes or {}))

    def set_status(self, status: str, message: str | None = None) -> None:
        self.status = status
        self.status_message = message

    def record_error(self, error: BaseException) -> None:
        """Mark the span failed and attach the exception as an event, as OpenTelemetry does."""
        self.set_status("error", str(error) or type(error).__name__)
        self.add_event(
            "exception",
            {
                "exception.type": f"{type(error).__module__}.{type(error).__qualname__}",
                "exception.message": str(error),
                "exception.stacktrace": "".join(traceback.format_exception(error)),
            },
        )

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"

    def __enter__(self) -> Span:
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and self.status != "error":
            self.record_error(exc)
        self.end = clock.now()
        _current.reset(self._token)
        _exporter.export(self)


class _NoopSpan:
    """Stands in for a span outside any trace (start-up work, migrations)."""

    trace_id = ""
    span_id = ""

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def add_event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        return None

    def set_status(self, status: str, message: str | None = None) -> None:
        return None

    def record_error(self, error: BaseException) -> None:
        return None

    def traceparent(self) -> str:
        return ""

    def __enter__(self) -> _NoopSpan:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        return None


_NOOP = _NoopSpan()


def start_span(
    name: str,
    kind: str = "internal",
    attributes: dict[str, Any] | None = None,
    traceparent: str | None = None,
    only_in_trace: bool = False,
) -> Any:
    """A span (use it as a context manager), child of the current span or of ``traceparent``.

    With ``only_in_trace``, work outside any trace gets a no-op span instead of a new trace.  The
    first span of the process's part of a trace carries the running build (``service.version``), so
    a trace says which release served it.
    """
    parent = _current.get()
    if parent is not None:
        return Span(name, kind, parent.trace_id, parent.span_id, attributes or {})
    remote = parse_traceparent(traceparent) if traceparent else None
    if remote is None and only_in_trace:
        return _NOOP
    attributes = {**(attributes or {}), "service.version": _service_version}
    if remote is not None:
        return Span(name, kind, remote[0], remote[1], attributes)
    return Span(name, kind, _ids.trace_id(), None, attributes)


def current_span() -> Span | None:
    return _current.get()


def parse_traceparent(header: str) -> tuple[str, str] | None:
    """``(trace_id, parent_span_id)`` from a W3C ``traceparent`` header, or None if malformed."""
    parts = header.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id, span_id = parts[1].lower(), parts[2].lower()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    try:
        int(trace_id, 16)
        int(span_id, 16)
    except ValueError:
        return None
    return trace_id, span_id
