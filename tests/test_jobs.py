"""The job runner fires the app's APScheduler jobs at APScheduler's own times, with its semantics."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from obsim.dataset.writer import DatasetWriter
from simulator.job_runner import JobRunner
from simulator.kernel import Kernel
from world.scheduled_jobs import Schedule, declared_jobs
from world.telemetry_sink import TelemetrySink

START = datetime(2026, 3, 10, 9, 50, tzinfo=UTC).timestamp()
END = START + 3 * 3600


def _options(workers: int) -> dict:
    """A scheduler's configuration in APScheduler's dictionary form, as the service states its own."""
    return {
        "timezone": UTC,
        "executors": {"default": {"type": "threadpool", "max_workers": workers}},
        "job_defaults": {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    }


def _schedule(workers: int) -> Schedule:
    return Schedule(BackgroundScheduler(**_options(workers)), _options(workers))


def _scheduler(kernel: Kernel, calls: list[tuple[str, float]], workers: int = 10) -> Schedule:
    schedule = _schedule(workers)
    scheduler = schedule.scheduler

    def work(name: str, seconds: float) -> None:
        calls.append((name, kernel.now))
        kernel.sleep(seconds)

    scheduler.add_job(work, CronTrigger(minute=0, timezone=UTC), args=("hourly", 1.0), id="hourly")
    scheduler.add_job(work, CronTrigger(minute="*/5", timezone=UTC), args=("five", 1.0), id="five")
    scheduler.add_job(
        work, CronTrigger(minute=0, jitter=90, timezone=UTC), args=("jittered", 1.0), id="jittered"
    )
    scheduler.add_job(work, IntervalTrigger(minutes=7, timezone=UTC), args=("seven", 1.0), id="seven")
    return schedule


def _runner(tmp_path, kernel, schedule: Schedule) -> tuple[JobRunner, TelemetrySink]:
    sink = TelemetrySink(kernel, DatasetWriter(tmp_path / "ds"), "/nowhere/")
    return JobRunner(kernel, schedule, sink, END, random.Random(3)), sink


def _apscheduler_fire_times(trigger, start: float, end: float) -> list[float]:
    times, previous = [], None
    now = datetime.fromtimestamp(start, UTC)
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire.timestamp() > end:
            return times
        times.append(fire.timestamp())
        previous = now = fire


def test_fire_times_equal_apschedulers_own(tmp_path):
    kernel = Kernel(start=START)
    calls: list[tuple[str, float]] = []
    schedule = _scheduler(kernel, calls)
    runner, _ = _runner(tmp_path, kernel, schedule)
    random.seed(7)
    runner.start()
    kernel.run(until=END)

    random.seed(7)  # the same jitter draws, in the same order, straight from the triggers
    expected = {}
    for job in schedule.scheduler.get_jobs():
        # a job due at the window's last instant wakes the scheduler just after it
        expected[job.id] = [t for t in _apscheduler_fire_times(job.trigger, START, END) if t < END]
    for job_id in ("hourly", "five", "seven"):
        assert runner.fire_times[job_id] == expected[job_id], job_id
    assert len(runner.fire_times["hourly"]) == 3, runner.fire_times["hourly"]
    assert runner.fire_times["seven"][0] == START + 7 * 60, "interval jobs count from the service's start"
    assert all(t % 3600 == 0 for t in runner.fire_times["hourly"])
    jittered = runner.fire_times["jittered"]
    assert len(jittered) == 3 and any(t % 3600 != 0 for t in jittered)
    assert all(0 <= t % 3600 <= 90 for t in jittered)
    # every fire ran the job as soon as the scheduler's thread woke, a few milliseconds after its
    # fire time (the executor had free workers), never on the exact instant
    started = sorted(t for name, t in calls if name == "five")
    delays = [t - fire for t, fire in zip(started, runner.fire_times["five"], strict=True)]
    assert all(0 < delay < 0.4 for delay in delays)
    assert len(set(delays)) > len(delays) // 2, "each wake-up has its own delay"


def test_jobs_due_together_start_together_in_job_store_order(tmp_path):
    """One wake-up per due instant: jobs sharing a schedule start at the same moment, in the job
    store's order (job id), so a storm of jobs stays one storm."""
    kernel = Kernel(start=START)
    calls: list[tuple[str, float]] = []
    runner, _ = _runner(tmp_path, kernel, _scheduler(kernel, calls))
    runner.start()
    kernel.run(until=END)
    on_the_hour = [(name, t) for name, t in calls if name in {"hourly", "five"} and t % 3600 < 1]
    assert len(on_the_hour) == 6
    for first, second in zip(on_the_hour[::2], on_the_hour[1::2], strict=True):
        assert first[0] == "five" and second[0] == "hourly" and first[1] == second[1]


def test_max_instances_skips_and_a_full_executor_misses(tmp_path, caplog):
    kernel = Kernel(start=START)
    calls: list[tuple[str, float]] = []
    schedule = _schedule(workers=1)
    scheduler = schedule.scheduler

    def slow(name: str, seconds: float) -> None:
        calls.append((name, kernel.now))
        kernel.sleep(seconds)

    # 'long' runs 7 minutes every 5: its own next run is skipped (max_instances=1); it also holds
    # the only executor thread, so 'quick' waits past its 30 s grace and is missed.
    scheduler.add_job(slow, CronTrigger(minute="*/5", timezone=UTC), args=("long", 420.0), id="long")
    scheduler.add_job(
        slow, CronTrigger(minute="*/5", second=10, timezone=UTC), args=("quick", 1.0), id="quick"
    )
    runner, sink = _runner(tmp_path, kernel, schedule)
    runner.start()
    with caplog.at_level("WARNING"):
        kernel.run(until=START + 1800)
    outcomes = [row[5] for row in sink.job_runs]
    assert "skipped" in outcomes and "missed" in outcomes
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped: maximum number of running instances reached (1)" in messages
    assert "was missed by" in messages


def test_the_declarations_read_equal_what_apscheduler_applies_once_started():
    """The service's own scheduler, read from its jobs and its configuration, has the job defaults
    and executor sizes APScheduler itself applies when it starts (read back from the started
    scheduler's jobs and executor)."""
    from platform_api.lib.config import load_settings
    from platform_api.services import job_scheduler

    settings = load_settings(environ={"SCHEDULER_MAX_WORKERS": "7"})
    schedule = Schedule.of(job_scheduler, settings)
    specs, workers = declared_jobs(schedule)
    assert workers == {"default": 7}
    schedule.scheduler.start(paused=True)
    try:
        started = {job.id: job for job in schedule.scheduler.get_jobs()}
        assert sorted(started) == sorted(spec.id for spec in specs)
        for spec in specs:
            job = started[spec.id]
            assert (spec.max_instances, spec.coalesce, spec.misfire_grace_time, spec.executor) == (
                job.max_instances,
                job.coalesce,
                job.misfire_grace_time,
                job.executor,
            )
        executor = schedule.scheduler._lookup_executor("default")  # APScheduler's own, to compare with
        assert executor._pool._max_workers == 7
    finally:
        schedule.scheduler.shutdown(wait=False)
