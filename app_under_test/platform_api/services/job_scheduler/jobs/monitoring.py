"""Self-monitoring of the process's database usage."""

from __future__ import annotations

import logging

from platform_api.lib import clock
from platform_api.lib.database import transactions
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job

logger = logging.getLogger(__name__)


@scheduled_job("report_long_running_transactions")
def report_long_running_transactions(threshold_seconds: float) -> JobCounts:
    """Warn about transactions open longer than ``threshold_seconds``.

    Long transactions hold row locks and a pool connection for their whole life, so they are worth
    a log line each.  Reads only the in-process registry; it never touches the database.
    """
    now = clock.utcnow()
    open_now = transactions.open_transactions()
    long_running = 0
    for record in open_now:
        age = (now - record.started_at).total_seconds()
        if age <= threshold_seconds:
            continue
        long_running += 1
        logger.warning(
            "long-running transaction",
            extra={
                "transaction.name": record.name,
                "transaction.id": record.id,
                "transaction.age_seconds": round(age, 1),
            },
        )
    logger.info(
        "open transactions checked",
        extra={"transactions.open": len(open_now), "transactions.long_running": long_running},
    )
    return {"open_transactions": len(open_now), "long_running_transactions": long_running}
