"""The application's APScheduler jobs, fired on virtual time with APScheduler's own semantics.

The application declares its jobs on an unstarted ``BackgroundScheduler``.  This runner reads them,
steps each job's real trigger (``trigger.get_next_fire_time``, jitter included) and, at each fire
time, does what APScheduler 3 does: refuse the run if ``max_instances`` runs are already going
("Execution of job ... skipped: maximum number of running instances reached"), queue it for the
executor's thread pool, and when a thread picks it up drop it if it is later than
``misfire_grace_time`` ("Run time of job ... was missed by ...").  The log lines use APScheduler's
own logger names and wording.

The scheduler's thread does not wake at the exact instant a job is due: the operating system and
the interpreter let it run a few milliseconds late, more when the host is busy.  It wakes once per
due instant (one delay, drawn from the run's seed, for every job due then) and submits the due jobs
in its job store's order (next run time, then job id), so jobs that share a schedule still start
together, as they do in production.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from simulator.kernel import Kernel, Semaphore
from world.scheduled_jobs import JobSpec, Schedule, declared_jobs
from world.telemetry_sink import TelemetrySink

_scheduler_log = logging.getLogger("apscheduler.scheduler")
_executor_log = logging.getLogger("apscheduler.executors.default")


# The scheduler thread's wake-up delay: log-normal around a few milliseconds, capped.
_WAKE_MEDIAN_S = 0.004
_WAKE_SIGMA = 0.9
_WAKE_MAX_S = 0.4


class JobRunner:
    def __init__(
        self, kernel: Kernel, schedule: Schedule, sink: TelemetrySink, end: float, rng: random.Random
    ) -> None:
        self.kernel = kernel
        self.rng = rng
        self._due: dict[float, list[tuple[JobSpec, datetime]]] = {}
        self.sink = sink
        self.end = end
        self.specs, workers = declared_jobs(schedule)
        self.workers = workers
        self.pools = {name: Semaphore(kernel, count) for name, count in workers.items()}
        self.instances: dict[str, int] = {spec.id: 0 for spec in self.specs}
        self.fire_times: dict[str, list[float]] = {spec.id: [] for spec in self.specs}
        self._runs = 0
        self._job_traces: dict[Any, str | None] = {}  # running job task -> its trace id
        sink.root_span_listeners.append(self._note_root_span)

    def job_rows(self) -> list[tuple[Any, ...]]:
        """Rows for the dataset's ``jobs`` table."""
        rows = []
        for spec in self.specs:
            job = spec.job
            rows.append(
                (
                    job.id,
                    job.name,
                    job.func_ref,
                    str(job.trigger),
                    getattr(job.trigger, "jitter", None),
                    spec.max_instances,
                    int(spec.coalesce),
                    spec.misfire_grace_time,
                    spec.executor,
                    self.workers.get(spec.executor, 0),
                )
            )
        return rows

    def reload(self, schedule: Schedule) -> None:
        """The scheduler restarted on new code (a deploy): each job keeps its schedule and its
        runs in progress, and its next runs call the new code's function."""
        replacements = {job.id: job for job in schedule.scheduler.get_jobs()}
        for spec in self.specs:
            replacement = replacements.get(spec.id)
            if replacement is not None:
                replacement.trigger = spec.job.trigger
                spec.job = replacement

    def start(self) -> None:
        """Start the scheduler at the kernel's current time, as ``scheduler.start()`` would."""
        now = datetime.fromtimestamp(self.kernel.now, UTC)
        for spec in self.specs:
            trigger = spec.job.trigger
            # An IntervalTrigger without a start date counts from its creation on the wall clock;
            # in the simulated process it was created when the service started.
            if isinstance(trigger, IntervalTrigger) and trigger.start_date > now:
                trigger.start_date = now + trigger.interval
            self._schedule_next(spec, None)

    def _schedule_next(self, spec: JobSpec, previous: datetime | None) -> None:
        now = datetime.fromtimestamp(self.kernel.now, UTC)
        fire = spec.job.trigger.get_next_fire_time(previous, now)
        spec.next_run = fire
        if fire is None:
            return
        at = fire.timestamp()
        if at > self.end:
            return
        due = self._due.get(at)
        if due is None:
            due = self._due[at] = []
            delay = min(_WAKE_MAX_S, _WAKE_MEDIAN_S * self.rng.lognormvariate(0.0, _WAKE_SIGMA))
            self.kernel.call_at(at + delay, lambda: self._wake(at))
        due.append((spec, fire))

    def _wake(self, at: float) -> None:
        """The scheduler's thread woke for the jobs due at ``at``: submit them in job-store order."""
        for spec, fire in sorted(self._due.pop(at), key=lambda item: item[0].id):
            self._fire(spec, fire)

    def _fire(self, spec: JobSpec, fire: datetime) -> None:
        self._schedule_next(spec, fire)
        self.fire_times[spec.id].append(fire.timestamp())
        if self.instances[spec.id] >= spec.max_instances:
            _scheduler_log.warning(
                'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
                spec.describe(),
                spec.max_instances,
            )
            self._record(spec, fire.timestamp(), None, None, "skipped", None, None)
            return
        self.instances[spec.id] += 1
        self.kernel.spawn(self._execute, spec, fire, name=f"job:{spec.id}")

    def _execute(self, spec: JobSpec, fire: datetime) -> None:
        pool = self.pools[spec.executor]
        pool.acquire()
        kernel = self.kernel
        try:
            scheduled = fire.timestamp()
            late = kernel.now - scheduled
            if spec.misfire_grace_time is not None and late > spec.misfire_grace_time:
                _executor_log.warning(
                    'Run time of job "%s" was missed by %s', spec.describe(), timedelta(seconds=round(late))
                )
                self._record(spec, scheduled, None, None, "missed", None, None)
                return
            started = kernel.now
            _executor_log.info('Running job "%s" (scheduled at %s)', spec.describe(), fire)
            outcome, error = "success", None
            me = kernel.current_greenlet()
            self._job_traces[me] = None
            try:
                spec.job.func(*spec.job.args, **spec.job.kwargs)
            except Exception as exc:
                outcome, error = "error", f"{type(exc).__name__}: {exc}"
                _executor_log.exception('Job "%s" raised an exception', spec.describe())
            else:
                _executor_log.info('Job "%s" executed successfully', spec.describe())
            trace_id = self._job_traces.pop(me)
            self._record(spec, scheduled, started, kernel.now, outcome, trace_id, error)
        finally:
            self.instances[spec.id] -= 1
            pool.release()

    def _note_root_span(self, trace_id: str) -> None:
        me = self.kernel.current_greenlet()
        if me in self._job_traces and self._job_traces[me] is None:
            self._job_traces[me] = trace_id

    def _record(
        self,
        spec: JobSpec,
        scheduled: float,
        started: float | None,
        finished: float | None,
        outcome: str,
        trace_id: str | None,
        error: str | None,
    ) -> None:
        self._runs += 1
        self.sink.add_job_run(
            (f"{spec.id}-{self._runs:06d}", spec.id, scheduled, started, finished, outcome, trace_id, error)
        )
