"""Distributed tracing with OpenTelemetry.

The service is instrumented with the OpenTelemetry API (spans, ``SpanKind``, ``Status``,
``opentelemetry.propagate`` for W3C ``traceparent`` headers).  Behind it sits a lean tracer of our
own rather than the SDK's: the SDK spends on every span more than our request handling can afford
(attribute validation, locks, limits, sampling hooks), and we sample every span anyway.  Its spans
are SDK ``ReadableSpan`` objects handed to standard SDK span processors, so any exporter (OTLP,
console, in-memory) plugs in unchanged.

:func:`configure` sets it up once at start-up: the span processors, the id generator and the
resource.  Span and event times are read from :mod:`platform_api.lib.clock`, like every other
duration the service measures, so traces, logs and metrics share one time source.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AnyValue, Attributes

from platform_api.lib import clock

#: Set on the first span of this process's part of a trace, so a trace says which build served it.
SERVICE_VERSION = "service.version"

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_SCOPE = InstrumentationScope("platform_api")


class _Span(ReadableSpan, trace.Span):
    """A recording span: the API's ``Span`` to the code that writes it, the SDK's ``ReadableSpan``
    to the span processors it is handed to when it ends."""

    def __init__(
        self,
        tracer: _Tracer,
        name: str,
        span_context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        links: Sequence[Link],
        start_time: int,
    ) -> None:
        self._name = name
        self._context = span_context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._events: list[Event] = []
        self._links = links
        self._status = _UNSET
        self._start_time = start_time
        self._end_time: int | None = None
        self._resource = tracer.resource
        self._instrumentation_info = None
        self._instrumentation_scope = _SCOPE
        self._processors = tracer.processors

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = clock.time_ns() if end_time is None else end_time
        for processor in self._processors:
            processor.on_end(self)

    def set_attributes(self, attributes: Mapping[str, AnyValue]) -> None:
        self._attributes.update(attributes)

    def set_attribute(self, key: str, value: AnyValue) -> None:
        self._attributes[key] = value

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        self._events.append(
            Event(name, attributes or {}, clock.time_ns() if timestamp is None else timestamp)
        )

    def update_name(self, name: str) -> None:
        self._name = name

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._status.status_code is StatusCode.OK:  # final, as the specification says
            return
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """An ``exception`` event with the semantic conventions' attributes; the type is the
        exception class's fully qualified name."""
        self.add_event(
            "exception",
            {
                "exception.type": f"{type(exception).__module__}.{type(exception).__qualname__}",
                "exception.message": str(exception),
                "exception.stacktrace": "".join(traceback.format_exception(exception)),
                **(attributes or {}),
            },
            timestamp,
        )


class _Tracer(trace.Tracer):
    """Starts recording spans: every span is sampled.  ``record_exception`` and
    ``set_status_on_exception`` apply to spans made current by :meth:`start_as_current_span`."""

    def __init__(
        self, resource: Resource, processors: Sequence[SpanProcessor], ids: IdGenerator, version: str
    ) -> None:
        self.resource = resource
        self.processors = tuple(processors)
        self.ids = ids
        self.version = version

    def start_span(
        self,
        name: str,
        context: context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        values = dict(attributes) if attributes else {}
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = self.ids.generate_trace_id()
        else:
            trace_id = parent.trace_id
        if parent is None or parent.is_remote:
            values[SERVICE_VERSION] = self.version
        span_context = SpanContext(
            trace_id, self.ids.generate_span_id(), is_remote=False, trace_flags=_SAMPLED
        )
        span = _Span(
            self,
            name,
            span_context,
            parent,
            kind,
            values,
            tuple(links or ()),
            clock.time_ns() if start_time is None else start_time,
        )
        for processor in self.processors:
            processor.on_start(span, context)
        return span

    @contextmanager
    def start_as_current_span(
        self,
        name: str,
        context: context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(span, end_on_exit, record_exception, set_status_on_exception) as current:
            yield current


_tracer: trace.Tracer = trace.NoOpTracer()


def configure(
    service_name: str,
    processors: Sequence[SpanProcessor] = (),
    id_generator: IdGenerator | None = None,
    service_version: str = "unknown",
    host_name: str = "",
) -> None:
    """Trace every request and job, handing each finished span to each of ``processors``."""
    global _tracer
    # W3C trace context only: the service neither reads nor sends baggage.
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    resource = {"service.name": service_name, "service.version": service_version}
    if host_name:
        resource["host.name"] = host_name
    _tracer = _Tracer(
        Resource.create(resource), processors, id_generator or RandomIdGenerator(), service_version
    )


@contextmanager
def start_as_current_span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes = None,
    parent: context.Context | None = None,
    only_in_trace: bool = False,
) -> Iterator[trace.Span]:
    """A span, current for the ``with`` block, child of the current span (or of ``parent``).

    With ``only_in_trace``, work outside any trace (start-up, migrations) is not traced.  An
    exception leaving the block is recorded on the span and marks it failed, unless the block
    already recorded its failure.
    """
    if only_in_trace and not in_trace():
        yield trace.INVALID_SPAN
        return
    span = _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except BaseException as error:
        if not failed(span):
            record_error(span, error)
        raise
    finally:
        span.end()
        context.detach(token)


def start_span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes = None,
    parent: context.Context | None = None,
) -> trace.Span:
    """A started span the caller makes current and ends: for work whose start and end are separate
    callbacks."""
    return _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


def in_trace() -> bool:
    """Whether the current work belongs to a trace (a request or a job, not start-up work)."""
    return trace.get_current_span().get_span_context().is_valid


def failed(span: trace.Span) -> bool:
    """Whether ``span`` is already marked failed."""
    return isinstance(span, ReadableSpan) and span.status.status_code is StatusCode.ERROR


def record_error(span: trace.Span, error: BaseException) -> None:
    """Mark ``span`` failed and attach ``error`` as an ``exception`` event."""
    span.set_status(Status(StatusCode.ERROR, str(error) or type(error).__name__))
    span.record_exception(error)
