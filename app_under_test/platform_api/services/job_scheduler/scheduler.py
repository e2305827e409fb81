"""The in-process job scheduler.

Every API process runs the scheduler (unless ``SCHEDULER_ENABLED=false``); jobs are in memory and
idempotent, so a restart only skips a run.  Times are UTC."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from platform_api.lib.config import Settings
from platform_api.lib.external_apis import EmailProviderClient, PaymentGatewayClient
from platform_api.services.job_scheduler.jobs.email_outbox import send_outbound_emails
from platform_api.services.job_scheduler.jobs.monitoring import report_long_running_transactions
from platform_api.services.job_scheduler.jobs.notifications import (
    retry_failed_notifications,
    send_activity_digests,
)
from platform_api.services.job_scheduler.jobs.tenant_data import (
    cleanup_expired_records,
    generate_usage_reports,
    sync_tenant_data,
)
from platform_api.services.job_scheduler.jobs.users import recompute_engagement_scores, report_billed_seats
from platform_api.services.job_scheduler.jobs.workflows import advance_workflow_runs


def scheduler_options(settings: Settings) -> dict[str, Any]:
    """The scheduler's configuration, in the dictionary form APScheduler's documentation uses.

    Jobs run on one pool of ``SCHEDULER_MAX_WORKERS`` threads.  Up to three runs of one job may be
    in progress at once, runs missed while the process was busy are run once rather than once per
    miss, and a run more than a minute late is skipped.  A new dict on every call: APScheduler
    consumes the executor entries it is given.
    """
    return {
        "timezone": UTC,
        "executors": {"default": {"type": "threadpool", "max_workers": settings.scheduler_max_workers}},
        "job_defaults": {"coalesce": True, "max_instances": 3, "misfire_grace_time": 60},
    }


def create_scheduler(settings: Settings) -> BackgroundScheduler:
    """A scheduler with all jobs registered; the caller starts it."""
    scheduler = BackgroundScheduler(**scheduler_options(settings))

    scheduler.add_job(
        sync_tenant_data,
        CronTrigger(minute=0, timezone=UTC),
        id="sync_tenant_data",
        name="Sync tenant stats",
        replace_existing=True,
    )
    scheduler.add_job(
        generate_usage_reports,
        CronTrigger(minute=0, timezone=UTC),
        id="generate_usage_reports",
        name="Generate usage reports",
        replace_existing=True,
    )
    scheduler.add_job(
        cleanup_expired_records,
        CronTrigger(minute=0, timezone=UTC),
        id="cleanup_expired_records",
        name="Clean up expired records",
        replace_existing=True,
    )
    scheduler.add_job(
        send_activity_digests,
        CronTrigger(minute=0, timezone=UTC),
        id="send_activity_digests",
        name="Send activity digests",
        replace_existing=True,
    )
    scheduler.add_job(
        recompute_engagement_scores,
        CronTrigger(minute=0, timezone=UTC),
        id="recompute_engagement_scores",
        name="Recompute engagement scores",
        replace_existing=True,
    )

    scheduler.add_job(
        report_long_running_transactions,
        IntervalTrigger(minutes=1, timezone=UTC),
        kwargs={"threshold_seconds": settings.db_transaction_timeout},
        id="report_long_running_transactions",
        name="Report long-running transactions",
        replace_existing=True,
    )
    scheduler.add_job(
        retry_failed_notifications,
        CronTrigger(minute="*/5", timezone=UTC),
        kwargs={"email": EmailProviderClient.from_settings(settings)},
        id="retry_failed_notifications",
        name="Retry failed notifications",
        replace_existing=True,
    )
    scheduler.add_job(
        advance_workflow_runs,
        CronTrigger(minute="*/2", timezone=UTC),
        id="advance_workflow_runs",
        name="Advance workflow runs",
        replace_existing=True,
    )
    scheduler.add_job(
        send_outbound_emails,
        IntervalTrigger(minutes=1, timezone=UTC),
        kwargs={"email": EmailProviderClient.from_settings(settings)},
        id="send_outbound_emails",
        name="Send outbound emails",
        replace_existing=True,
    )
    if settings.seat_billing:
        scheduler.add_job(
            report_billed_seats,
            CronTrigger(minute="*/15", timezone=UTC),
            kwargs={"gateway": PaymentGatewayClient.from_settings(settings)},
            id="report_billed_seats",
            name="Report billed seats",
            replace_existing=True,
        )
    return scheduler
