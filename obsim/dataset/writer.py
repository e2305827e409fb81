"""Streaming, atomic writer for a dataset directory.

Rows are appended in batches as the simulation produces them and are never all held in memory.
The dataset is built in a sibling temporary directory and renamed into place only by :meth:`finish`,
so an interrupted run leaves nothing that looks like a usable dataset.  A live recording instead
publishes at once (:meth:`DatasetWriter.publish_recording`) and commits as it goes, so the UI reads
it while it is written; its manifest says so until :meth:`finish` marks it finished.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from obsim.dataset.reader import STAGING_MARKER, process_alive
from obsim.dataset.schema import DATABASE_NAME, DDL, FORMAT_VERSION, INDEXES, MANIFEST_NAME

SpanRow = tuple[str, str, str | None, str, str, str, float, float, str, str | None, str, str]
# A span_records row: trace number, span id, parent span id, template id, start, duration, status,
# status message, own attributes (JSON), events (JSON) or None, event template id, event time (JSON).
SpanRecordRow = tuple[
    int, str, str | None, int, float, float, str, str | None, str, str | None, int | None, str | None
]
LogRow = tuple[float, str, str, str, str, str, str | None, str | None, str]

# orjson is several times faster than the json module, and every span and log record is encoded.
# Datetimes and dataclasses still go through ``str``, as with ``json.dumps(default=str)``.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# A string attribute is shared (stored once per span template) until its key has shown this many
# distinct values; past that it is an id-like value (a URL path, an address) and each span keeps its own.
_MAX_SHARED_STRINGS = 256
_OWN = object()  # marks a key whose value the span keeps itself, in a template's identity
_JSON_VALUE = object()  # marks a list or object value, identified by its JSON text
# Leaving WAL mode needs every reader gone; the UI holds a connection only for one request.
_UNWAL_TIMEOUT_S = 10.0


def to_json(value: Any) -> str:
    """Compact JSON text; values JSON has no type for are written as their ``str``."""
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS).decode()


def remove_abandoned_stagings(directory: Path, dataset_name: str | None = None) -> int:
    """Delete what killed runs left behind in ``directory`` (``<name>.partial-<pid>`` of a process
    that is gone), of one dataset or of any; returns the bytes freed.  Each can be hundreds of
    megabytes.  A staging whose process still runs is another run's, and stays."""
    pattern = f"{glob.escape(dataset_name) if dataset_name else '*'}{STAGING_MARKER}*"
    freed = 0
    for leftover in directory.glob(pattern):
        pid = leftover.name.rpartition(STAGING_MARKER)[2]
        if pid.isdigit() and not process_alive(int(pid)):
            freed += directory_size(leftover)
            shutil.rmtree(leftover, ignore_errors=True)
    return freed


def directory_size(directory: Path) -> int:
    """Bytes in the files directly inside ``directory`` (a dataset has no subdirectories)."""
    return sum(entry.stat().st_size for entry in directory.iterdir() if entry.is_file())


class DatasetWriter:
    """Append telemetry to ``<target>.partial-<pid>/`` and publish it as ``target`` on finish."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.staging = self.target.with_name(f"{self.target.name}{STAGING_MARKER}{os.getpid()}")
        remove_abandoned_stagings(self.target.parent, self.target.name)  # a rerun of a killed run
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        self.db = sqlite3.connect(self.staging / DATABASE_NAME, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(DDL)
        self.db.execute("BEGIN")
        self._series: dict[tuple[str, str], int] = {}
        self._families: set[str] = set()
        self._traces: dict[str, int] = {}
        self._new_traces: list[tuple[int, str]] = []  # inserted with the next span_records batch
        self._templates: dict[tuple[Any, ...], int] = {}
        self._event_templates: dict[str, int] = {}
        self._shared_strings: dict[str, set[str]] = {}
        self._own_string_keys: set[str] = set()
        self._session_states: dict[tuple[Any, ...], int] = {}
        self._recording = False

    # -- metrics --------------------------------------------------------------------------------
    def series_id(
        self, family: str, mtype: str, help_text: str, sample_name: str, labels: dict[str, str]
    ) -> int:
        """Return the id of a series, registering its family and the series on first sight."""
        key_labels = json.dumps(labels, sort_keys=True, separators=(",", ":"))
        key = (sample_name, key_labels)
        sid = self._series.get(key)
        if sid is None:
            if family not in self._families:
                self._families.add(family)
                self.db.execute(
                    "INSERT INTO metric_families(name, type, help) VALUES (?, ?, ?)",
                    (family, mtype, help_text),
                )
            sid = len(self._series) + 1
            self._series[key] = sid
            self.db.execute(
                "INSERT INTO metric_series(id, family, sample_name, labels) VALUES (?, ?, ?, ?)",
                (sid, family, sample_name, key_labels),
            )
        return sid

    def add_samples(self, rows: Iterable[tuple[int, float, float]]) -> None:
        self.db.executemany("INSERT INTO metric_samples(series_id, ts, value) VALUES (?, ?, ?)", rows)

    # -- traces, logs, database sessions, jobs --------------------------------------------------
    def add_spans(self, rows: Sequence[SpanRow]) -> None:
        """Spans as the ``spans`` view returns them (attributes and events as JSON text)."""
        self.add_span_records(
            [self.span_record(*row[:10], json.loads(row[10]), row[11]) for row in rows]  # type: ignore[misc]
        )

    def add_span_records(self, rows: Sequence[SpanRecordRow]) -> None:
        """Rows made by :meth:`span_record`, with the traces they registered first."""
        if self._new_traces:
            self.db.executemany("INSERT INTO traces(id, trace_id) VALUES (?, ?)", self._new_traces)
            self._new_traces = []
        self.db.executemany("INSERT INTO span_records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def span_record(
        self,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        service: str,
        name: str,
        kind: str,
        start: float,
        duration: float,
        status: str,
        status_message: str | None,
        attributes: Mapping[str, Any],
        events_json: str | None,
        event: tuple[str, float] | None = None,
    ) -> SpanRecordRow:
        """One span as a ``span_records`` row, registering its trace and templates on first sight.

        A span with exactly one event may pass it as ``event``: the JSON array of that one event with
        its time set to 0, and the time; ``events_json`` is then None.  A new trace's row is written
        with the batch that :meth:`add_span_records` writes (one statement for many traces, not one
        each), so a row must reach that method before the dataset is committed or finished.
        """
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = len(self._traces) + 1
            self._new_traces.append((trace, trace_id))
        template, own_json = self._template(service, name, kind, attributes)
        event_template = event_time = None
        if event is not None:
            event_json, at = event
            event_template = self._event_templates.get(event_json)
            if event_template is None:
                event_template = self._event_templates[event_json] = len(self._event_templates) + 1
                self.db.execute(
                    "INSERT INTO span_event_templates VALUES (?, ?)", (event_template, event_json)
                )
            event_time = to_json(at)
        return (trace, span_id, parent_span_id, template, start, duration, status, status_message, own_json,
                events_json, event_template, event_time)  # fmt: skip

    def _template(self, service: str, name: str, kind: str, attributes: Mapping[str, Any]) -> tuple[int, str]:
        """Split a span into its shared template (returned as its id) and its own values (JSON).

        Most of a span's attributes repeat across thousands of spans (the statement text, the code
        location, the route, names and addresses); stored once per distinct combination they take
        a fraction of the space.  Finite numbers, and the strings of keys that turned out to be
        id-like, are the span's own.  The template keeps every key in order, with a placeholder where
        the span's own value goes, so ``json_patch`` in the ``spans`` view rebuilds the object key
        for key.
        """
        identity: list[Any] = [service, name, kind]
        own: dict[str, Any] = {}
        own_string_keys, shared_strings = self._own_string_keys, self._shared_strings
        for key, value in attributes.items():
            kind_of_value = type(value)
            if kind_of_value is int or (kind_of_value is float and math.isfinite(value)):
                own[key] = value
                identity.append((key, _OWN))
            elif kind_of_value is str:
                if key not in own_string_keys:
                    seen = shared_strings.get(key)
                    if seen is None:
                        seen = shared_strings[key] = set()
                    if value in seen or len(seen) < _MAX_SHARED_STRINGS:
                        seen.add(value)
                        identity.append((key, value))
                        continue
                    own_string_keys.add(key)
                    del shared_strings[key]
                own[key] = value
                identity.append((key, _OWN))
            elif kind_of_value is list or kind_of_value is dict:
                identity.append((key, _JSON_VALUE, to_json(value)))
            else:  # None, booleans, and the rare other scalar: kept in the template exactly as they are
                identity.append((key, value))
        template_key = tuple(identity)
        template = self._templates.get(template_key)
        if template is None:
            template = self._templates[template_key] = len(self._templates) + 1
            shared = {key: 0 if key in own else value for key, value in attributes.items()}
            self.db.execute(
                "INSERT INTO span_templates(id, service, name, kind, attributes) VALUES (?, ?, ?, ?, ?)",
                (template, service, name, kind, to_json(shared)),
            )
        return template, to_json(own) if own else "{}"

    def add_logs(self, rows: Sequence[LogRow]) -> None:
        self.db.executemany(
            "INSERT INTO logs(ts, service, host, level, logger, message, trace_id, span_id, attributes)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def add_db_sessions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows in the column order of the ``db_sessions`` view."""
        snapshots = []
        for ts, pid, datname, usename, app, addr, backend, xact, began, change, *state, blocked_by in rows:
            key = (datname, usename, app, addr, *state)
            state_id = self._session_states.get(key)
            if state_id is None:
                state_id = self._session_states[key] = len(self._session_states) + 1
                self.db.execute("INSERT INTO db_session_states VALUES (?,?,?,?,?,?,?,?,?)", (state_id, *key))
            snapshots.append((ts, pid, backend, xact, began, change, state_id, blocked_by))
        self.db.executemany("INSERT INTO db_session_snapshots VALUES (?,?,?,?,?,?,?,?)", snapshots)

    def add_jobs(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def add_job_runs(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany("INSERT INTO job_runs VALUES (?,?,?,?,?,?,?,?)", rows)

    def set_meta(self, **values: Any) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def publish_recording(self, manifest: dict[str, Any], window_start: float, planned_end: float) -> Path:
        """Publish the dataset now, empty, for readers to follow while rows are added and committed.

        The database is switched to WAL mode (readers see each :meth:`commit` without blocking the
        writer) with its indexes built up front, since the UI queries it from the first second.  The
        manifest carries ``recording``, ``planned_end`` and the writer's process, and no
        ``window_end``: that is known only when :meth:`finish` marks the dataset finished.
        """
        self.set_meta(format_version=str(FORMAT_VERSION), recorded_until=window_start)
        self.db.execute("COMMIT")
        self.db.executescript(INDEXES)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.close()  # WAL is checkpointed away: the directory can be renamed
        self._write_manifest(
            self.staging,
            {
                **manifest,
                "format_version": FORMAT_VERSION,
                "recording": True,
                "window_start": window_start,
                "planned_end": planned_end,
                "writer": {"host": socket.gethostname(), "pid": os.getpid()},
            },
        )
        self._publish()
        self.db = sqlite3.connect(self.target / DATABASE_NAME, isolation_level=None)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("BEGIN")
        self._recording = True
        return self.target

    def commit(self, recorded_until: float) -> None:
        """Make everything added so far visible to readers of a recording, which has all telemetry
        up to ``recorded_until`` (epoch seconds): the end of its window while it is recorded."""
        self.set_meta(recorded_until=recorded_until)
        self.db.execute("COMMIT")
        self.db.execute("BEGIN")

    def finish(
        self, manifest: dict[str, Any], check: Callable[[sqlite3.Connection], None] | None = None
    ) -> Path:
        """Index, close and publish the dataset; replaces an existing dataset at the target.

        ``check`` reads the finished database before it is published and raises to refuse it, so a
        dataset that fails it is never visible at the target, not even for a moment.  A recording
        is finalised in place: its manifest is replaced by ``manifest`` marked ``recording: false``.
        """
        self.set_meta(format_version=str(FORMAT_VERSION))
        self.db.execute("COMMIT")
        manifest = {**manifest, "format_version": FORMAT_VERSION}
        if self._recording:
            self.db.execute("ANALYZE")
            self._leave_wal()
            self.db.close()
            self._write_manifest(self.target, {**manifest, "recording": False})
            self._recording = False  # finished: nothing left for abort() to drop
            return self.target
        self.db.executescript(INDEXES)
        self.db.execute("ANALYZE")
        if check is not None:
            check(self.db)
        self.db.close()
        self._write_manifest(self.staging, manifest)
        self._publish()
        return self.target

    def _leave_wal(self) -> None:
        """Back to a single-file database, as every finished dataset is; readers still open keep it
        in WAL mode, which readers handle too, so give up after a while rather than fail the run."""
        deadline = time.monotonic() + _UNWAL_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete":
                    return
            except sqlite3.OperationalError:  # "database is locked": a reader holds it
                pass
            time.sleep(0.2)

    @staticmethod
    def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically: a reader sees the old one or the new one, whole."""
        staging = directory / f".{MANIFEST_NAME}.{os.getpid()}"
        staging.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(staging, directory / MANIFEST_NAME)

    def _publish(self) -> None:
        """Rename the staging directory to the target, moving an older dataset aside first so the
        target is never half-replaced."""
        retired = self.target.with_name(f"{self.target.name}.retired-{os.getpid()}")
        if self.target.exists():
            os.replace(self.target, retired)
        os.replace(self.staging, self.target)
        shutil.rmtree(retired, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far, a published recording included: readers must not
        follow a recording nobody will finish."""
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.target if self._recording else self.staging, ignore_errors=True)
