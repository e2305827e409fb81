"""Time on the interview clock for a recorded moment: wall time since the start minus the pauses.

The store keeps only the running total of pauses on the session (``paused_s``), but every pause and
resume is an event of its own (kind ``clock``), and so are the interviewer's end of the interview and
a reopening (a stop that lasts until reopened, or for good), so the intervals are read back from the events
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
    """One stop of the clock; ``end`` is None while it lasts.  ``ended``: the interviewer ended the
    interview there (a stop until reopened), rather than paused it."""

    start: datetime
    end: datetime | None
    ended: bool = False


#: a clock change that stops the clock, and whether it ends the interview; and one that restarts it
_STOPS = {"paused": False, "ended": True}
_RESTARTS = ("resumed", "reopened")


def pauses(events: Sequence[_Recorded]) -> list[Pause]:
    """The clock's stops, oldest first, from its ``paused``/``ended`` and ``resumed``/``reopened``
    events (an end during a pause closes the pause there and begins the end's stop: the two touch,
    so the clock stands still across them)."""
    out: list[Pause] = []
    for event in sorted(events, key=lambda e: as_utc(e.wall_time)):
        change = event.detail.get("change") if event.kind == "clock" else None
        stopped = bool(out) and out[-1].end is None
        if change in _STOPS and not stopped:
            out.append(Pause(as_utc(event.wall_time), None, _STOPS[change]))
        elif change == "ended" and stopped and not out[-1].ended:  # ended during a pause
            moment = as_utc(event.wall_time)
            out[-1] = Pause(out[-1].start, moment, False)
            out.append(Pause(moment, None, True))
        elif change in _RESTARTS and stopped:
            out[-1] = Pause(out[-1].start, as_utc(event.wall_time), out[-1].ended)
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
