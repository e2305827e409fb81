"""Where the live application's spans and log records go: several destinations at once.

The application takes one span exporter (``tracing.configure``) and one log handler
(``configure_logging``); live mode sends each to standard output, the dataset recorder and, with
``--otlp-endpoint``, the OpenTelemetry SDK.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

LogSink = Callable[[float, dict[str, Any]], None]


class FanoutExporter:
    """A ``SpanExporter`` handing every ended span to each of ``exporters``."""

    def __init__(self, exporters: Sequence[Any]) -> None:
        self.exporters = list(exporters)

    def export(self, span: Any) -> None:
        for exporter in self.exporters:
            exporter.export(span)


class FanoutHandler(logging.Handler):
    """Builds each record's structured fields once (the app's JsonFormatter) and hands them to every sink.

    The fields must be built on the emitting thread: they carry its current trace and span ids.
    """

    def __init__(self, sinks: Sequence[LogSink]) -> None:
        super().__init__()
        self.sinks = list(sinks)

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(self.formatter, "fields", None)
        if fields is None:
            raise TypeError("FanoutHandler needs the application's JsonFormatter")
        entry = fields(record)
        for sink in self.sinks:
            sink(record.created, entry)


def stdout_sink(created: float, entry: dict[str, Any]) -> None:
    """The JSON line the service writes in production."""
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
