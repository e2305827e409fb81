"""Live telemetry into the dataset store the candidate UI reads.

The application's spans and log records arrive on many threads; SQLite and the simulator's
:class:`TelemetrySink` want one.  Emitters only put rows on a bounded queue; one recorder thread
owns the :class:`DatasetWriter`, scrapes the metric registries every ``interval`` seconds of wall
time (as Prometheus would) and snapshots the database sessions.  The dataset is published as a live
recording when the recorder starts and committed every ``COMMIT_INTERVAL_S``, so the candidate UI
follows the run; on stop it is finished: its window ends at the last moment recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind
from prometheus_client.registry import CollectorRegistry

from obsim.dataset.writer import DatasetWriter
from world.telemetry_sink import TelemetrySink

QUEUE_LIMIT = 200_000  # rows waiting for the writer; beyond it rows are dropped and counted
COMMIT_INTERVAL_S = 2.0  # how far the UI of a live run may lag behind it
PUBLISH_TIMEOUT_S = 30.0
SessionSource = Callable[[], list[tuple[Any, ...]]]
LogSource = Callable[[], list[dict[str, Any]]]  # log records another system ships at each scrape


class _WallClock:
    """The sink's ``kernel.now``: the wall clock, or the moment the row being written was made."""

    def __init__(self) -> None:
        self.at: float | None = None

    @property
    def now(self) -> float:
        return time.time() if self.at is None else self.at


class LiveRecorder(SpanProcessor):
    def __init__(
        self,
        target: Path,
        code_prefixes: Sequence[str],
        registries: Sequence[CollectorRegistry],
        sessions: SessionSource | None,
        interval: float,
        shipped_logs: Sequence[LogSource] = (),
    ) -> None:
        self.target = target
        self.code_prefixes = tuple(code_prefixes)  # each release's code directory, as stack traces show it
        self.registries = list(registries)
        self.sessions = sessions
        self.shipped_logs = list(shipped_logs)
        self.interval = interval
        self.dropped = 0
        self.requests = 0
        self.started = time.time()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="telemetry-recorder", daemon=True)
        self._recording = threading.Event()
        self._published = threading.Event()
        self._manifest: dict[str, Any] = {}
        self._planned_end = 0.0
        self._failed = False

    def start(self, manifest: dict[str, Any], planned_end: float) -> None:
        """Start recording and return once the dataset is published for readers (or raise)."""
        self._manifest = manifest
        self._planned_end = planned_end
        self._thread.start()
        if not self._recording.wait(PUBLISH_TIMEOUT_S) or self._failed:
            raise RuntimeError(f"the telemetry recorder did not publish {self.target}")

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    # -- what the application and the scheduler call, on their own threads ----------------------
    def on_end(self, span: ReadableSpan) -> None:
        """Span processor in the application's tracer provider: record each finished span."""
        self._put(("span", span))

    def add_log(self, created: float, entry: dict[str, Any]) -> None:
        self._put(("log", (created, entry)))

    def add_jobs(self, rows: list[tuple[Any, ...]]) -> None:
        self._put(("jobs", rows))

    def add_job_run(self, row: tuple[Any, ...]) -> None:
        self._put(("job_run", row))

    def replace_registry(self, old: CollectorRegistry, new: CollectorRegistry) -> None:
        """Scrape ``new`` instead of ``old`` from the next scrape on (a new release's registry)."""
        self.registries = [new if registry is old else registry for registry in self.registries]

    def stop(self, timeout: float = 30.0) -> bool:
        """Write what is queued and finish the dataset; False if the writer did not finish in time."""
        self._queue.put(("stop", None))
        return self._published.wait(timeout)

    # -- the recorder thread ---------------------------------------------------------------------
    def _run(self) -> None:
        clock = _WallClock()
        writer = DatasetWriter(self.target)
        sink = TelemetrySink(clock, writer, self.code_prefixes[0])  # type: ignore[arg-type]
        sink.code_prefixes = self.code_prefixes
        next_scrape = next_commit = time.time()
        try:
            writer.publish_recording(self._manifest, self.started, self._planned_end)
            self._recording.set()
            while True:
                now = time.time()
                if now >= next_scrape:
                    clock.at = None
                    self._scrape(sink)
                    next_scrape = now + self.interval
                if now >= next_commit:
                    sink.flush()
                    writer.commit(now)
                    next_commit = now + COMMIT_INTERVAL_S
                try:
                    kind, payload = self._queue.get(
                        timeout=max(0.0, min(next_scrape, next_commit) - time.time())
                    )
                except queue.Empty:
                    continue
                if kind == "stop":
                    break
                self._write(sink, clock, kind, payload)
            clock.at = None
            self._scrape(sink)
            sink.flush()
            end = time.time()
            writer.set_meta(requests=self.requests, live=True, recorded_until=end)
            writer.finish(
                {
                    **self._manifest,
                    "window_start": self.started,
                    "window_end": end,
                    "counts": dict(sink.counts, dropped=self.dropped),
                }
            )
            self._published.set()
        except BaseException:
            logging.getLogger(__name__).exception("telemetry recorder failed")
            writer.abort()
            self._failed = True
            self._recording.set()  # wake start(), which raises
            raise

    def _write(self, sink: TelemetrySink, clock: _WallClock, kind: str, payload: Any) -> None:
        if kind == "span":
            sink.on_end(payload)
            if payload.parent is None and payload.kind is SpanKind.SERVER:
                self.requests += 1
        elif kind == "log":
            clock.at, entry = payload
            sink.add_log(entry)
        elif kind == "jobs":
            sink.writer.add_jobs(payload)
        elif kind == "job_run":
            sink.add_job_run(payload)

    def _scrape(self, sink: TelemetrySink) -> None:
        sink.scrape(self.registries)
        if self.sessions is not None:
            try:
                sink.add_sessions(self.sessions())
            except Exception:  # the database may be down; the scrape goes on without its sessions
                logging.getLogger(__name__).warning("database session snapshot failed", exc_info=True)
        for source in self.shipped_logs:
            try:
                records = source()
            except Exception:  # as a log shipper whose source is down: nothing shipped this time
                logging.getLogger(__name__).warning("shipping log records failed", exc_info=True)
                continue
            for record in records:
                sink.add_log(record)
