"""The files the live processes share in their run directory.

The application process writes ``ready.json`` once it serves (the timeline it started and the
seeded tenants' credentials); the external-service fakes and the load generator read it.  Each
process's output goes to a log file beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from live.schedule import Timeline

READY = "ready.json"


def write_ready(run_dir: Path, timeline: Timeline, tenants: list[Any], port: int) -> None:
    """Publish atomically, so a reader never sees half a file."""
    staging = run_dir / f".{READY}.{os.getpid()}"
    staging.write_text(
        json.dumps({"timeline": asdict(timeline), "port": port, "tenants": [asdict(t) for t in tenants]})
    )
    os.replace(staging, run_dir / READY)


def read_ready(run_dir: Path) -> dict[str, Any] | None:
    """The published start-up facts, or None while the application is still starting."""
    try:
        return json.loads((run_dir / READY).read_text())
    except FileNotFoundError:
        return None


def timeline_of(ready: dict[str, Any]) -> Timeline:
    return Timeline(**ready["timeline"])
