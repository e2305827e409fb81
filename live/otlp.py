"""Spans and logs to an OTLP/HTTP collector through the OpenTelemetry SDK (``--otlp-endpoint``).

The application traces with the OpenTelemetry SDK, so its spans need only a batch span processor in
its tracer provider (:attr:`OtlpBridge.span_processor`).  Its logs are JSON records; this bridge
turns each into the SDK's log record.  Batching, encoding and delivery are the SDK's batch
processors' and OTLP/HTTP exporters'.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

_SEVERITY = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
_LOG_FIELDS = frozenset(("timestamp", "level", "message", "trace_id", "span_id"))


def _value(value: Any) -> Any:
    """An OTLP attribute value: primitives and lists of them as they are, anything else as text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | bool | int | float) for v in value):
        return list(value)
    return str(value)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _value(value) for key, value in values.items() if value is not None}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=TraceFlags(1))


class OtlpBridge:
    """Span processor for the app's tracer provider and sink for its log records; call
    :meth:`shutdown` to flush."""

    def __init__(self, endpoint: str, service_name: str, host_name: str) -> None:
        base = endpoint.rstrip("/")
        self.resource = Resource.create({"service.name": service_name, "host.name": host_name})
        self.span_processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
        self._logs = LoggerProvider(resource=self.resource)
        self._logs.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs"))
        )
        self._logger = self._logs.get_logger("platform_api")

    def emit_log(self, created: float, entry: dict[str, Any]) -> None:
        """One structured record, as the application's JSON formatter builds it."""
        context = None
        if entry.get("trace_id") and entry.get("span_id"):
            context = trace.set_span_in_context(
                NonRecordingSpan(_context(entry["trace_id"], entry["span_id"]))
            )
        self._logger.emit(
            timestamp=_ns(created),
            context=context,
            severity_number=_SEVERITY.get(entry["level"], SeverityNumber.UNSPECIFIED),
            severity_text=entry["level"].upper(),
            body=entry["message"],
            attributes=_attributes({k: v for k, v in entry.items() if k not in _LOG_FIELDS}),
        )

    def shutdown(self) -> None:
        self.span_processor.shutdown()
        self._logs.shutdown()
