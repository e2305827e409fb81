"""Export logs as JSON Lines: one flat object per record, the shape log shippers and ``jq`` expect.

The fixed fields come first and cannot be overridden by a record's attributes, so every line can be
read the same way; the remaining attributes are merged in at the top level, as structured loggers do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from obsim.dataset.exporters._atomic import atomic_text_file
from obsim.dataset.reader import Dataset, LogRecord


def export(dataset: Dataset, out: Path) -> None:
    """Write every log record of ``dataset``, in time order, to the file ``out``."""
    with atomic_text_file(out) as handle:
        for record in dataset.logs():
            handle.write(orjson.dumps(_entry(record), option=orjson.OPT_APPEND_NEWLINE).decode())


def _entry(record: LogRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "timestamp": _iso8601(record.ts),
        "service": record.service,
        "host": record.host,
        "level": record.level,
        "logger": record.logger,
        "message": record.message,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
    }
    return entry | {key: value for key, value in record.attributes.items() if key not in entry}


def _iso8601(ts: float) -> str:
    """UTC with microseconds and a ``Z``, e.g. ``2024-05-01T12:00:00.250000Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
