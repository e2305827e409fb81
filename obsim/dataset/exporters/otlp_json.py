"""Export spans and logs as OTLP/JSON, laid out like the OpenTelemetry Collector's file exporter.

``traces.jsonl`` holds one ``ExportTraceServiceRequest`` and ``logs.jsonl`` one
``ExportLogsServiceRequest`` per line, so the files can be replayed with the Collector's
``otlpjsonfile`` receiver or loaded by any OTLP-aware backend.  OTLP/JSON is protobuf's JSON mapping
with three deviations that matter here: trace and span ids are hex (not base64), enums are integers,
and field names are lowerCamelCase; 64-bit integers are decimal strings as in the protobuf mapping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby, islice
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson

from obsim.dataset.exporters._atomic import atomic_text_file
from obsim.dataset.reader import Dataset, LogRecord, Span

BATCH_SIZE = 1000  # spans or log records per request line, like a Collector batch
SCOPE = {"name": "obsim"}
SPAN_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
SEVERITY_NUMBERS = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}  # protobuf JSON spelling; NaN handled apart

T = TypeVar("T")


def export(dataset: Dataset, out: Path) -> None:
    """Write ``out/traces.jsonl`` and ``out/logs.jsonl``; both are renamed into place only at the end."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_file(out / "traces.jsonl") as traces, atomic_text_file(out / "logs.jsonl") as logs:
        for spans in _batches(dataset.spans()):
            _write_line(traces, _trace_request(spans))
        for records in _batches(dataset.logs()):
            _write_line(logs, _logs_request(records))


# -- requests ---------------------------------------------------------------------------------------
def _trace_request(spans: list[Span]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": service})},
                "scopeSpans": [{"scope": SCOPE, "spans": [_span(span) for span in group]}],
            }
            for service, group in _by_resource(spans, lambda span: span.service)
        ]
    }


def _logs_request(records: list[LogRecord]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": _attributes({"service.name": service, "host.name": host})},
                "scopeLogs": [{"scope": SCOPE, "logRecords": [_log_record(record) for record in group]}],
            }
            for (service, host), group in _by_resource(records, lambda record: (record.service, record.host))
        ]
    }


def _by_resource(items: list[T], key: Callable[[T], Any]) -> Iterator[tuple[Any, list[T]]]:
    """Group a batch by resource, resources sorted and items kept in time order within each."""
    for resource, group in groupby(sorted(items, key=key), key=key):
        yield resource, list(group)


# -- spans and log records --------------------------------------------------------------------------
def _span(span: Span) -> dict[str, Any]:
    start = _nanos(span.start)
    encoded: dict[str, Any] = {"traceId": span.trace_id, "spanId": span.span_id}
    if span.parent_span_id:
        encoded["parentSpanId"] = span.parent_span_id
    encoded.update(
        name=span.name,
        kind=SPAN_KINDS[span.kind],
        startTimeUnixNano=str(start),
        endTimeUnixNano=str(start + _nanos(span.duration)),
        attributes=_attributes(span.attributes),
        events=[_event(event) for event in span.events],
        status=_status(span),
    )
    return encoded


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "timeUnixNano": str(_nanos(event["time"])),
        "name": event["name"],
        "attributes": _attributes(event.get("attributes") or {}),
    }


def _status(span: Span) -> dict[str, Any]:
    status: dict[str, Any] = {"code": STATUS_CODES[span.status]}
    if span.status_message:
        status["message"] = span.status_message
    return status


def _log_record(record: LogRecord) -> dict[str, Any]:
    """A LogRecord; the logger name becomes ``logger.name`` because OTLP has no field for it here."""
    encoded: dict[str, Any] = {
        "timeUnixNano": str(_nanos(record.ts)),
        "severityNumber": SEVERITY_NUMBERS[record.level],
        "severityText": record.level.upper(),  # as Python's logging names its levels
        "body": {"stringValue": record.message},
        "attributes": _attributes({"logger.name": record.logger, **record.attributes}),
    }
    if record.trace_id:
        encoded["traceId"] = record.trace_id
    if record.span_id:
        encoded["spanId"] = record.span_id
    return encoded


# -- values -----------------------------------------------------------------------------------------
def _attributes(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _any_value(value)} for key, value in mapping.items()]


def _any_value(value: Any) -> dict[str, Any]:
    """An AnyValue for a JSON-decoded value; ``bool`` is tested before ``int``, which it subclasses."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value if math.isfinite(value) else NON_FINITE.get(value, "NaN")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(item) for item in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {}  # JSON null: an AnyValue with no value set


def _nanos(seconds: float) -> int:
    """Epoch seconds to integer nanoseconds via whole microseconds, the dataset's finest precision."""
    return round(seconds * 1_000_000) * 1000


# -- output -----------------------------------------------------------------------------------------
def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH_SIZE)):
        yield batch


def _write_line(handle: TextIO, request: dict[str, Any]) -> None:
    """One request per line: compact UTF-8 JSON (non-finite numbers never get here: they are strings)."""
    handle.write(orjson.dumps(request, option=orjson.OPT_APPEND_NEWLINE).decode())
