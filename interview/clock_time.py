"""Time on the interview clock for a recorded moment: wall time since the start minus the pauses.

The store keeps only the running total of pauses on the session (``paused_s``), but every pause and
resume is an event of its own (kind ``clock``), so the pause intervals are read back from the events
and a row of the timeline or a figure is placed where the interviewer's clock stood, not where the
wall clock did (a five-minute pause would otherwise push everything after it five minutes later).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from interview.store import as_utc


class _Recorded(Protocol):
    wall_time: datetime
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Pause:
    """One pause of the clock; ``end`` is None while it lasts."""

    start: datetime
    end: datetime | None


def pauses(events: Sequence[_Recorded]) -> list[Pause]:
    """The clock's pauses, oldest first, from its ``paused`` and ``resumed`` events."""
    out: list[Pause] = []
    for event in sorted(events, key=lambda e: as_utc(e.wall_time)):
        change = event.detail.get("change") if event.kind == "clock" else None
        if change == "paused" and (not out or out[-1].end is not None):
            out.append(Pause(as_utc(event.wall_time), None))
        elif change == "resumed" and out and out[-1].end is None:
            out[-1] = Pause(out[-1].start, as_utc(event.wall_time))
    return out


def on_clock(started: datetime, paused: Sequence[Pause], moment: datetime) -> float:
    """Seconds on the interview clock at ``moment`` (a moment inside a pause reads as its start)."""
    moment = as_utc(moment)
    stopped = sum(
        (min(moment, pause.end or moment) - pause.start).total_seconds()
        for pause in paused
        if pause.start < moment
    )
    return (moment - as_utc(started)).total_seconds() - stopped


def minutes(seconds: float | None) -> str:
    """``m:ss`` for a duration, ``—`` when there is none."""
    if seconds is None:
        return "—"
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
