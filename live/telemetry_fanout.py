"""Where the live application's log records go: several destinations at once.

The application takes one log handler (``configure_logging``); live mode sends each record to
standard output, the dataset recorder and, with ``--otlp-endpoint``, the OpenTelemetry SDK.  (Spans
need no fan-out: the application's tracer provider takes several span processors.)
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

LogSink = Callable[[float, dict[str, Any]], None]


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
