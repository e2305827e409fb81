"""Read-only access to a dataset directory, shared by the UI and the exporters.

Opening validates the layout and the format version up front, so a reader never half-works on a
dataset it does not understand.  A live recording is readable while it is written: each opened
:class:`Dataset` reads one consistent snapshot of it, whose window ends where the recording has got
to, so reopen it to see more.  The database is opened read-only: readers must never be able to
alter a dataset that is the record of a generated incident.  The iterators stream rows from SQLite
cursors because a dataset can hold millions of samples, spans and log records.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import orjson

from obsim.dataset.schema import DATABASE_NAME, FORMAT_VERSION, MANIFEST_NAME

STAGING_MARKER = ".partial-"  # DatasetWriter builds a dataset in "<target>.partial-<pid>"
# A recording still unfinished this long after its planned end was abandoned (its writer cannot be
# checked from another host); a live run finishes its dataset well within a minute of its end.
ABANDONED_AFTER_S = 300.0


class DatasetError(Exception):
    """The path is not a dataset this reader can use; the message says why."""


class MetricFamily(NamedTuple):
    """A ``metric_families`` row."""

    name: str
    type: str
    help: str
    unit: str


class MetricSeries(NamedTuple):
    """A ``metric_series`` row, its labels decoded (they include ``le``/``quantile`` where present)."""

    id: int
    sample_name: str
    labels: dict[str, str]


class Span(NamedTuple):
    """A ``spans`` row with its JSON columns decoded."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    kind: str
    start: float
    duration: float
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]


class LogRecord(NamedTuple):
    """A ``logs`` row with its attributes decoded."""

    ts: float
    service: str
    host: str
    level: str
    logger: str
    message: str
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any]


class Dataset:
    """An open dataset: its manifest and a read-only connection to its telemetry database.

    ``recording`` is true for a live recording still being written: the connection then holds one
    read transaction, so every query of this object sees the same snapshot (the one
    :meth:`window` describes) while the writer goes on committing.
    """

    def __init__(self, path: Path, manifest: dict[str, Any], connection: sqlite3.Connection) -> None:
        self.path = path
        self.manifest = manifest
        self.connection = connection
        self.recording = manifest.get("recording") is True

    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Validate ``path`` as a dataset of this format version (finished, or a live recording whose
        writer is still at work) and open it read-only."""
        path = Path(path)
        if not path.is_dir():
            raise DatasetError(f"{path}: no such dataset directory")
        if STAGING_MARKER in path.name:
            raise DatasetError(f"{path}: unfinished dataset (staging directory of an interrupted generation)")
        manifest = _load_manifest(path)
        database = path / DATABASE_NAME
        if not database.is_file():
            raise DatasetError(f"{path}: missing {DATABASE_NAME}")
        dataset = cls(path, manifest, _connect_read_only(database))
        if dataset.recording:
            try:
                _check_writer(path, manifest)
                dataset.connection.execute("BEGIN")  # one snapshot; WAL readers do not block the writer
            except BaseException:
                dataset.close()
                raise
        return dataset

    # -- metadata ---------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        """The ``meta`` table as stored: values are text (JSON for non-string values)."""
        return dict(self.connection.execute("SELECT key, value FROM meta ORDER BY key"))

    def window(self) -> tuple[float, float]:
        """The incident window (epoch seconds) the candidate is shown, from the manifest.

        A recording's window ends at the moment it has recorded up to (``recorded_until`` in
        ``meta``, as of this snapshot, at most its planned end), so times relative to the end, such
        as ``now-15m``, move with the clock as the dataset is reopened.
        """
        try:
            start = float(self.manifest["window_start"])
            if not self.recording:
                return start, float(self.manifest["window_end"])
            row = self.connection.execute("SELECT value FROM meta WHERE key = 'recorded_until'").fetchone()
            until = float(json.loads(row[0]))
            return start, max(start, min(until, float(self.manifest["planned_end"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{self.path}: manifest or meta has no usable window") from exc

    # -- metrics ----------------------------------------------------------------------------------
    def metric_families(self) -> list[MetricFamily]:
        """All metric families, ordered by name."""
        rows = self.connection.execute("SELECT name, type, help, unit FROM metric_families ORDER BY name")
        return [MetricFamily(*row) for row in rows]

    def metric_series(self, family: str) -> list[MetricSeries]:
        """The series of one family, ordered by id; series counts are small enough to hold."""
        rows = self.connection.execute(
            "SELECT id, sample_name, labels FROM metric_series WHERE family = ? ORDER BY id", (family,)
        )
        return [MetricSeries(sid, name, json.loads(labels)) for sid, name, labels in rows]

    def metric_samples(self, series_ids: Sequence[int]) -> Iterator[tuple[int, float, float]]:
        """Stream ``(series_id, ts, value)`` of the given series, ordered by ts then series id."""
        placeholders = ",".join("?" * len(series_ids))
        yield from self.connection.execute(
            f"SELECT series_id, ts, value FROM metric_samples WHERE series_id IN ({placeholders})"
            " ORDER BY ts, series_id",
            tuple(series_ids),
        )

    # -- traces and logs --------------------------------------------------------------------------
    def span_services(self) -> list[str]:
        """The services that emitted spans, sorted (read from the templates, not every span)."""
        return [
            row[0]
            for row in self.connection.execute("SELECT DISTINCT service FROM span_templates ORDER BY 1")
        ]

    def span_operations(self, service: str, kind: str) -> list[str]:
        """Span names of one service and kind (``server`` for the operations a service serves), sorted."""
        rows = self.connection.execute(
            "SELECT DISTINCT name FROM span_templates WHERE service = ? AND kind = ? ORDER BY 1",
            (service, kind),
        )
        return [row[0] for row in rows]

    def spans(self) -> Iterator[Span]:
        """Stream all spans ordered by start time (ties broken by ids, for deterministic output)."""
        rows = self.connection.execute("SELECT * FROM spans ORDER BY start, trace_id, span_id")
        for *head, attributes, events in rows:
            yield Span(*head, orjson.loads(attributes), orjson.loads(events))

    def logs(self) -> Iterator[LogRecord]:
        """Stream all log records ordered by time, then insertion order."""
        rows = self.connection.execute(
            "SELECT ts, service, host, level, logger, message, trace_id, span_id, attributes"
            " FROM logs ORDER BY ts, id"
        )
        for *head, attributes in rows:
            yield LogRecord(*head, orjson.loads(attributes))

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _load_manifest(path: Path) -> dict[str, Any]:
    """Read the manifest and refuse any format version other than the one this code understands."""
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise DatasetError(f"{path}: missing {MANIFEST_NAME} (not a dataset, or an unfinished one)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{manifest_path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise DatasetError(f"{manifest_path}: manifest is not a JSON object")
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # not 1.0 or true, which compare equal to 1
        raise DatasetError(
            f"{path}: dataset format_version is {version!r}, but this obsim reads format_version "
            f"{FORMAT_VERSION}; regenerate the dataset with this version of obsim"
        )
    return manifest


def _check_writer(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse a recording whose writer is gone: it will never move on nor be finished."""
    writer = manifest.get("writer")
    writer = writer if isinstance(writer, dict) else {}
    pid = writer.get("pid")
    if type(pid) is int and writer.get("host") == socket.gethostname() and not process_alive(pid):
        raise DatasetError(
            f"{path}: live recording never finished: its writer (process {pid}) is gone, the run was "
            "killed; record it again"
        )
    planned_end = manifest.get("planned_end")
    if not isinstance(planned_end, int | float):
        raise DatasetError(f"{path}: live recording without a planned_end")
    if time.time() > planned_end + ABANDONED_AFTER_S:
        raise DatasetError(
            f"{path}: live recording never finished: it was due to end {time.time() - planned_end:.0f} s "
            "ago; record it again"
        )


def process_alive(pid: int) -> bool:
    """Whether a process of this host has this id (a writer that is gone left its output unfinished)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _connect_read_only(database: Path) -> sqlite3.Connection:
    """Open the database with ``mode=ro`` and probe it, so a corrupt file fails here and not mid-export."""
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("SELECT 1 FROM meta LIMIT 1")
    except sqlite3.Error as exc:
        connection.close()
        raise DatasetError(f"{database}: not a readable dataset database: {exc}") from exc
    return connection
