"""What every scheduled job gets: a trace, metrics and start/finish logs.

Jobs run in scheduler threads with no request around them, so each run starts its own trace
(``job <id>``) and everything it does -- statements, HTTP calls, per-tenant work -- nests under it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec

from platform_api.lib import clock, metrics, tracing

logger = logging.getLogger(__name__)

P = ParamSpec("P")

#: What a job reports about its run (``tenants_processed``, ``records_scanned``, ``sent``, ...).
JobCounts = dict[str, int]


def scheduled_job(job_id: str) -> Callable[[Callable[P, JobCounts]], Callable[P, JobCounts]]:
    """Instrument a job function: span, run/duration/in-progress metrics and logs.

    Failures are logged with their traceback and re-raised so the scheduler records them too.
    """

    def decorate(func: Callable[P, JobCounts]) -> Callable[P, JobCounts]:
        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> JobCounts:
            running = metrics.JOBS_RUNNING.labels(job_id)
            with tracing.start_as_current_span(f"job {job_id}", attributes={"job.id": job_id}) as span:
                started = clock.monotonic()
                running.inc()
                logger.info("job started", extra={"job.id": job_id})
                try:
                    counts = func(*args, **kwargs)
                except Exception:
                    metrics.JOB_RUNS.labels(job_id, "error").inc()
                    logger.exception(
                        "job failed", extra={"job.id": job_id, "duration_ms": _elapsed_ms(started)}
                    )
                    raise
                finally:
                    running.dec()
                    metrics.JOB_DURATION.labels(job_id).observe(clock.monotonic() - started)
                metrics.JOB_RUNS.labels(job_id, "success").inc()
                for name, value in counts.items():
                    span.set_attribute(f"job.{name}", value)
                logger.info(
                    "job finished", extra={"job.id": job_id, "duration_ms": _elapsed_ms(started), **counts}
                )
                return counts

        return run

    return decorate


def _elapsed_ms(started: float) -> float:
    return round((clock.monotonic() - started) * 1000, 3)
