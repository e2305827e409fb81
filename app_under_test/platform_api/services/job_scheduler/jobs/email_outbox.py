"""The email outbox's sender job."""

from __future__ import annotations

from platform_api.lib.external_apis import EmailProviderClient
from platform_api.services import email_outbox
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job

#: How long one run may keep sending: the job runs every minute, so a run ends before the next is due.
RUN_BUDGET_SECONDS = 50.0


@scheduled_job("send_outbound_emails")
def send_outbound_emails(email: EmailProviderClient, budget_seconds: float = RUN_BUDGET_SECONDS) -> JobCounts:
    """Send the outbox, oldest message first."""
    run = email_outbox.send_outbox(email, budget_seconds)
    return {"sent": run.sent, "failed": run.failed}
