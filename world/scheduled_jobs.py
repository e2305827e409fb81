"""The jobs the application declares on its APScheduler scheduler, as the scheduler would run them.

Engine-neutral: the virtual-time runner (``simulator.job_runner``) fires them and live mode's server
(``live.server``) starts them on threads, both from the same reading of the declarations.

An unstarted APScheduler 3 scheduler keeps its job defaults and executors to itself, so the
declarations are read from the scheduler's jobs (``get_jobs``) together with the configuration the
service built it from (``scheduler_options``, APScheduler's dictionary form).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

# What APScheduler 3 assumes for a job default its configuration leaves out.
APSCHEDULER_JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 1}
APSCHEDULER_MAX_WORKERS = 10  # a thread pool executor's default size


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


@dataclass(frozen=True)
class Schedule:
    """A release's scheduler, unstarted, with the configuration it was built from."""

    scheduler: Any
    options: dict[str, Any]

    @classmethod
    def of(cls, job_scheduler: ModuleType, settings: Any) -> Schedule:
        """The scheduler the service's ``job_scheduler`` package builds for ``settings``."""
        return cls(job_scheduler.create_scheduler(settings), job_scheduler.scheduler_options(settings))


def declared_jobs(schedule: Schedule) -> tuple[list[JobSpec], dict[str, int]]:
    """Jobs with defaults merged, and each executor's worker count."""
    defaults = {**APSCHEDULER_JOB_DEFAULTS, **schedule.options.get("job_defaults", {})}
    specs = []
    for job in schedule.scheduler.get_jobs():
        specs.append(
            JobSpec(
                job=job,
                max_instances=getattr(job, "max_instances", defaults["max_instances"]),
                coalesce=getattr(job, "coalesce", defaults["coalesce"]),
                misfire_grace_time=getattr(job, "misfire_grace_time", defaults["misfire_grace_time"]),
                executor=getattr(job, "executor", "default"),
            )
        )
    executors = schedule.options["executors"].items()
    workers = {name: executor.get("max_workers", APSCHEDULER_MAX_WORKERS) for name, executor in executors}
    return specs, workers
