"""Exporters turn a dataset into standard formats other tools ingest.

Each exporter takes an open :class:`~obsim.dataset.reader.Dataset` and an output path, streams the
data (datasets can be large), writes deterministically (same dataset, same bytes) and atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from obsim.dataset.exporters import jsonl, openmetrics, otlp_json
from obsim.dataset.reader import Dataset

Exporter = Callable[[Dataset, Path], None]

EXPORTERS: dict[str, Exporter] = {
    "openmetrics": openmetrics.export,  # out: a file, for `promtool tsdb create-blocks-from openmetrics`
    "otlp-json": otlp_json.export,  # out: a directory receiving traces.jsonl and logs.jsonl
    "jsonl": jsonl.export,  # out: a file of structured log lines
}
