"""Collects the telemetry a production stack would: spans, logs, scraped metrics, DB sessions, job runs.

Everything is stamped with virtual time and streamed to the :class:`DatasetWriter` in batches, so
memory stays flat however long the simulated window is.  The application's own exporter and log
handler hooks are used (a span processor in its OpenTelemetry set-up, ``configure_logging``), so
what lands in the dataset is exactly what the application emitted.
"""

from __future__ import annotations

import logging
import random
import re
import sysconfig
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import format_span_id, format_trace_id
from prometheus_client.registry import CollectorRegistry

from obsim.dataset.writer import DatasetWriter, to_json
from world.timekeeping import Clock

_BATCH = 5000
#: The engine's own code, whose frames stand in for the service's thread pool, HTTP transport, job
#: executor and clients: the virtual-time engine and the world models it runs.
_ENGINE_DIRS = tuple(
    str(Path(__file__).resolve().parent.parent / name) + "/" for name in ("simulator", "world")
)
_DEPLOY_ROOT = "/srv/platform-api/"
_SITE_PACKAGES = sysconfig.get_paths()["purelib"] + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"
_DEPLOY_SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages/"
_DEPLOY_STDLIB = "/usr/local/lib/python3.11/"
# One frame of a formatted traceback: its "File" line, then its indented source and caret lines.
_ENGINE_FRAME = re.compile(
    r'  File "(?:'
    + "|".join(re.escape(d) for d in _ENGINE_DIRS)
    + r')[^"]*", line \d+, in [^\n]*\n(?:    [^\n]*\n)*'
)
_LOG_COLUMNS = frozenset(
    ("timestamp", "level", "logger", "message", "service", "host", "trace_id", "span_id")
)


def as_deployed(text: str, code_prefixes: tuple[str, ...]) -> str:
    """Rewrite local paths to the paths the service has in production.

    Keeps stack traces identical whichever directory (or patched copy, or earlier release) the
    simulation ran the service's code from, and wherever the machine keeps its Python and its
    virtualenv (libraries first: a virtualenv may sit inside the checkout).
    """
    text = text.replace(_SITE_PACKAGES, _DEPLOY_SITE_PACKAGES)
    for code_prefix in code_prefixes:
        text = text.replace(code_prefix, _DEPLOY_ROOT)
    return text.replace(_STDLIB, _DEPLOY_STDLIB)


def without_engine_frames(attributes: dict[str, Any]) -> dict[str, Any]:
    """A record's attributes with the engine's own frames (``simulator/``, ``world/``) taken out of
    its stack trace.

    The engine stands in for the thread pool, the HTTP transport and the job executor the service
    has in production; those frames are not the service's, and a candidate must not see them.
    """
    stack = attributes.get("error.stack")
    if stack is not None:
        attributes["error.stack"] = [f for f in stack if not f["file"].startswith(_ENGINE_DIRS)]
    formatted = attributes.get("exception.stacktrace")
    if formatted is not None:
        attributes["exception.stacktrace"] = _ENGINE_FRAME.sub("", formatted)
    return attributes


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded stream, so traces are reproducible."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def generate_trace_id(self) -> int:
        return self._bits(128)

    def generate_span_id(self) -> int:
        return self._bits(64)


def _seconds(nanoseconds: int) -> float:
    """An OpenTelemetry timestamp as the float seconds it was taken from (exact integer division)."""
    return nanoseconds / 1_000_000_000


class TelemetrySink(SpanProcessor):
    """Buffers rows of every kind and flushes them to the dataset writer; the application's span
    processor."""

    def __init__(self, kernel: Clock, writer: DatasetWriter, code_prefix: str) -> None:
        self.kernel = kernel
        self.writer = writer
        # Where the service's code runs from: one directory, or each release's when a deploy
        # switches the code mid-run.
        self.code_prefixes: tuple[str, ...] = (code_prefix,)
        self.spans: list[tuple[Any, ...]] = []
        self.logs: list[tuple[Any, ...]] = []
        self.samples: list[tuple[int, float, float]] = []
        self.sessions: list[tuple[Any, ...]] = []
        self.job_runs: list[tuple[Any, ...]] = []
        self.counts = {"spans": 0, "logs": 0, "samples": 0, "db_sessions": 0, "job_runs": 0}
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self.root_span_listeners: list[Any] = []

    # -- spans ----------------------------------------------------------------------------------
    def on_end(self, span: ReadableSpan) -> None:
        """Store a span the application finished."""
        events = span.events
        events_json: str | None = "[]"
        event = None
        if len(events) == 1:  # stored as a template (the stack trace) and a time: see DatasetWriter
            only = events[0]
            attributes = without_engine_frames(dict(only.attributes or {}))
            template = to_json([{"name": only.name, "time": 0, "attributes": attributes}])
            event, events_json = (as_deployed(template, self.code_prefixes), _seconds(only.timestamp)), None
        elif events:
            events_json = as_deployed(
                to_json(
                    [
                        {
                            "name": e.name,
                            "time": _seconds(e.timestamp),
                            "attributes": without_engine_frames(dict(e.attributes or {})),
                        }
                        for e in events
                    ]
                ),
                self.code_prefixes,
            )
        context = span.get_span_context()
        assert context is not None and span.start_time is not None and span.end_time is not None
        trace_id = format_trace_id(context.trace_id)
        start = _seconds(span.start_time)
        self.add_span(
            trace_id,
            format_span_id(context.span_id),
            None if span.parent is None else format_span_id(span.parent.span_id),
            str(span.resource.attributes["service.name"]),
            span.name,
            span.kind.name.lower(),
            start,
            _seconds(span.end_time) - start,
            span.status.status_code.name.lower(),
            span.status.description,
            dict(span.attributes or {}),
            events_json,
            event,
        )
        if span.parent is None:
            for listener in self.root_span_listeners:
                listener(trace_id)

    def add_span(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str | None,
        service: str,
        name: str,
        kind: str,
        start: float,
        duration: float,
        status: str,
        status_message: str | None,
        attributes: dict[str, Any],
        events_json: str | None = "[]",
        event: tuple[str, float] | None = None,
    ) -> None:
        self.spans.append(
            self.writer.span_record(
                trace_id,
                span_id,
                parent_id,
                service,
                name,
                kind,
                round(start, 6),
                round(duration, 9),  # nanoseconds, as OpenTelemetry records them
                status,
                status_message,
                attributes,
                events_json,
                event,
            )
        )
        if len(self.spans) >= _BATCH:
            self.flush_spans()

    def flush_spans(self) -> None:
        self.writer.add_span_records(self.spans)
        self.counts["spans"] += len(self.spans)
        self.spans = []

    # -- logs -----------------------------------------------------------------------------------
    def add_log(self, entry: dict[str, Any]) -> None:
        """One structured record, as the application's JSON formatter builds it."""
        attributes = {k: v for k, v in entry.items() if k not in _LOG_COLUMNS}
        if "error.stack" in attributes:
            attributes_json = as_deployed(to_json(without_engine_frames(attributes)), self.code_prefixes)
        else:
            attributes_json = to_json(attributes) if attributes else "{}"
        self.logs.append(
            (
                round(self.kernel.now, 6),
                entry["service"],
                entry["host"],
                entry["level"],
                entry["logger"],
                entry["message"],
                entry.get("trace_id"),
                entry.get("span_id"),
                attributes_json,
            )
        )
        if len(self.logs) >= _BATCH:
            self.flush_logs()

    def flush_logs(self) -> None:
        self.writer.add_logs(self.logs)
        self.counts["logs"] += len(self.logs)
        self.logs = []

    # -- metrics --------------------------------------------------------------------------------
    def scrape(self, registries: list[CollectorRegistry]) -> None:
        """Record every sample of every registry at the current time, as a Prometheus scrape does."""
        ts = round(self.kernel.now, 3)
        series = self._series
        rows = self.samples
        for registry in registries:
            for family in registry.collect():
                for sample in family.samples:
                    # Labels in the order the collector gives them (stable per series) spare a sort
                    # per sample; a series seen in another order only costs one more lookup, as the
                    # writer identifies series by their sorted labels.
                    key = (sample.name, tuple(sample.labels.items()))
                    sid = series.get(key)
                    if sid is None:
                        sid = self.writer.series_id(
                            family.name, family.type, family.documentation, sample.name, dict(sample.labels)
                        )
                        series[key] = sid
                    rows.append((sid, ts, float(sample.value)))
        if len(rows) >= _BATCH:
            self.flush_samples()

    def flush_samples(self) -> None:
        self.writer.add_samples(self.samples)
        self.counts["samples"] += len(self.samples)
        self.samples = []

    # -- database sessions and jobs ---------------------------------------------------------------
    def add_sessions(self, rows: list[tuple[Any, ...]]) -> None:
        self.sessions.extend(rows)
        if len(self.sessions) >= _BATCH:
            self.flush_sessions()

    def flush_sessions(self) -> None:
        self.writer.add_db_sessions(self.sessions)
        self.counts["db_sessions"] += len(self.sessions)
        self.sessions = []

    def add_job_run(self, row: tuple[Any, ...]) -> None:
        self.job_runs.append(row)

    def flush(self) -> None:
        self.flush_spans()
        self.flush_logs()
        self.flush_samples()
        self.flush_sessions()
        self.writer.add_job_runs(self.job_runs)
        self.counts["job_runs"] += len(self.job_runs)
        self.job_runs = []


class SinkHandler(logging.Handler):
    """Logging handler that hands the application's structured records to the sink.

    It never blocks, so it is safe under the logging module's handler lock.
    """

    def __init__(self, sink: TelemetrySink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(self.formatter, "fields", None)
        if fields is None:
            raise TypeError("SinkHandler needs the application's JsonFormatter")
        self.sink.add_log(fields(record))
