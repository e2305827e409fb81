"""The jobs the application declares on its APScheduler scheduler, as the scheduler would run them.

Engine-neutral: the virtual-time runner (``simulator.job_runner``) fires them and live mode's server
(``live.server``) starts them on threads, both from the same reading of the declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class JobSpec:
    """One declared job with the scheduler's defaults merged in."""

    job: Any
    max_instances: int
    coalesce: bool
    misfire_grace_time: float | None
    executor: str
    next_run: datetime | None = None

    @property
    def id(self) -> str:
        return self.job.id

    def describe(self) -> str:
        """The job as a running APScheduler prints it in its log lines."""
        when = self.next_run.strftime("%Y-%m-%d %H:%M:%S UTC") if self.next_run else "None"
        return f"{self.job.name} (trigger: {self.job.trigger}, next run at: {when})"


def declared_jobs(scheduler: Any) -> tuple[list[JobSpec], dict[str, int]]:
    """Jobs with defaults merged, and each executor's worker count."""
    defaults = scheduler._job_defaults
    specs = []
    for job in scheduler.get_jobs():
        specs.append(
            JobSpec(
                job=job,
                max_instances=getattr(job, "max_instances", defaults.get("max_instances", 1)),
                coalesce=getattr(job, "coalesce", defaults.get("coalesce", True)),
                misfire_grace_time=getattr(job, "misfire_grace_time", defaults.get("misfire_grace_time", 1)),
                executor=getattr(job, "executor", "default"),
            )
        )
    workers = {name: executor._pool._max_workers for name, executor in scheduler._executors.items()}
    return specs, workers
