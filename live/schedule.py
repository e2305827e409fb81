"""The scenario's timeline mapped onto the wall clock, compressed by the time scale.

Scenario time starts at the window's start when the live run starts and runs ``scale`` times
faster than the wall clock.  Only *when* things happen is scaled (cron firing times, the start and
end of a degradation); how long a request, a query or a timeout takes stays real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

_ISSUED_KEPT = 16


@dataclass(frozen=True)
class Timeline:
    """Wall-clock seconds ``real_start`` correspond to scenario seconds ``scenario_start``."""

    scenario_start: float
    real_start: float
    scale: float

    def to_scenario(self, real: float) -> float:
        return self.scenario_start + (real - self.real_start) * self.scale

    def to_real(self, scenario: float) -> float:
        return self.real_start + (scenario - self.scenario_start) / self.scale


class ScaledTrigger(BaseTrigger):
    """Fires when the wrapped trigger would fire on the scenario's (compressed) timeline.

    The wrapped trigger is the application's own declaration, so its cron fields, jitter and
    interval stay the source of truth; only the clock it is read against changes.
    """

    def __init__(self, inner: BaseTrigger, timeline: Timeline) -> None:
        self.inner = inner
        self.timeline = timeline
        # The scenario time of each fire time handed out (the last few): converting one back from
        # wall-clock time loses microseconds, and the wrapped trigger would return that fire again.
        self._issued: dict[datetime, datetime] = {}

    def _scenario(self, moment: datetime) -> datetime:
        return datetime.fromtimestamp(self.timeline.to_scenario(moment.timestamp()), UTC)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        previous = None
        if previous_fire_time is not None:
            previous = self._issued.get(previous_fire_time) or self._scenario(previous_fire_time)
        scenario_now = self._scenario(now)
        if previous is not None:
            scenario_now = max(scenario_now, previous)  # ``now`` is never before the previous fire
        fire = self.inner.get_next_fire_time(previous, scenario_now)
        if fire is None:
            return None
        real = datetime.fromtimestamp(self.timeline.to_real(fire.timestamp()), UTC)
        if previous_fire_time is not None and real <= previous_fire_time:  # never step back or stand still
            real = previous_fire_time + timedelta(microseconds=1)
        self._issued[real] = fire
        if len(self._issued) > _ISSUED_KEPT:
            del self._issued[min(self._issued)]
        return real

    def __str__(self) -> str:
        return f"{self.inner} (timeline x{self.timeline.scale:g})"

    def __repr__(self) -> str:
        return f"<ScaledTrigger ({self.inner!r}, scale={self.timeline.scale:g})>"


def scale_jobs(scheduler: Any, timeline: Timeline) -> list[str]:
    """Put every declared job of an unstarted scheduler on the scaled timeline; returns their ids.

    An ``IntervalTrigger`` counts from its creation; it is moved to the scenario's start so an
    interval job runs on the same beat as in the simulated run.
    """
    from apscheduler.triggers.interval import IntervalTrigger

    start = datetime.fromtimestamp(timeline.scenario_start, UTC)
    ids = []
    for job in scheduler.get_jobs():
        trigger = job.trigger
        if isinstance(trigger, IntervalTrigger):
            trigger.start_date = start + trigger.interval
        scheduler.modify_job(job.id, trigger=ScaledTrigger(trigger, timeline))
        ids.append(job.id)
    return ids
