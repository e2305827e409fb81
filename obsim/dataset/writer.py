"""Streaming, atomic writer for a dataset directory.

Rows are appended in batches as the simulation produces them and are never all held in memory.
The dataset is built in a sibling temporary directory and renamed into place only by :meth:`finish`,
so an interrupted run leaves nothing that looks like a usable dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from obsim.dataset.schema import DATABASE_NAME, DDL, FORMAT_VERSION, INDEXES, MANIFEST_NAME

SpanRow = tuple[str, str, str | None, str, str, str, float, float, str, str | None, str, str]
LogRow = tuple[float, str, str, str, str, str, str | None, str | None, str]


class DatasetWriter:
    """Append telemetry to ``<target>.partial-<pid>/`` and publish it as ``target`` on finish."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.staging = self.target.with_name(f"{self.target.name}.partial-{os.getpid()}")
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
        self.db.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def add_logs(self, rows: Sequence[LogRow]) -> None:
        self.db.executemany(
            "INSERT INTO logs(ts, service, host, level, logger, message, trace_id, span_id, attributes)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def add_db_sessions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany("INSERT INTO db_sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

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
    def finish(self, manifest: dict[str, Any]) -> Path:
        """Index, close and publish the dataset; replaces an existing dataset at the target."""
        self.set_meta(format_version=str(FORMAT_VERSION))
        self.db.execute("COMMIT")
        self.db.executescript(INDEXES)
        self.db.execute("ANALYZE")
        self.db.close()
        manifest = {**manifest, "format_version": FORMAT_VERSION}
        (self.staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        # Move an older dataset aside first so the target is never half-replaced.
        retired = self.target.with_name(f"{self.target.name}.retired-{os.getpid()}")
        if self.target.exists():
            os.replace(self.target, retired)
        os.replace(self.staging, self.target)
        shutil.rmtree(retired, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
