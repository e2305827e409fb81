"""Jobs that queue and deliver notifications."""

from __future__ import annotations

from functools import partial

from platform_api.lib import clock
from platform_api.lib.database.client import db
from platform_api.lib.external_apis import EmailProviderClient
from platform_api.services import notification_service
from platform_api.services.job_scheduler.jobs.fanout import for_each_tenant
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job


@scheduled_job("send_activity_digests")
def send_activity_digests() -> JobCounts:
    """Queue the daily activity digests that are due, tenant by tenant."""
    return for_each_tenant(
        "send_activity_digests", partial(notification_service.send_activity_digests, now=clock.utcnow())
    )


@scheduled_job("retry_failed_notifications")
def retry_failed_notifications(email: EmailProviderClient) -> JobCounts:
    """Deliver queued notifications and retry failed ones."""
    with db.session() as session:
        counts = notification_service.retry_failed_notifications(session, email, clock.utcnow())
    return {"sent": counts.sent, "failed": counts.failed}
