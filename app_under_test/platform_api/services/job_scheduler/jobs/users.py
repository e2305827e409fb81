"""Hourly job scoring user engagement."""

from __future__ import annotations

from functools import partial

from platform_api.lib import clock
from platform_api.services import user_service
from platform_api.services.job_scheduler.jobs.fanout import for_each_tenant
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job


@scheduled_job("recompute_engagement_scores")
def recompute_engagement_scores() -> JobCounts:
    """Recompute every user's engagement score, tenant by tenant."""
    return for_each_tenant(
        "recompute_engagement_scores", partial(user_service.recompute_engagement_scores, now=clock.utcnow())
    )
