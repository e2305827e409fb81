"""Hourly jobs that keep the data derived from tenants' records current."""

from __future__ import annotations

from functools import partial

from platform_api.lib import clock
from platform_api.services import data_service
from platform_api.services.job_scheduler.jobs.fanout import for_each_tenant
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job


@scheduled_job("sync_tenant_data")
def sync_tenant_data() -> JobCounts:
    """Refresh every tenant's running totals (``tenant_stats``)."""
    return for_each_tenant("sync_tenant_data", partial(data_service.sync_tenant_stats, now=clock.utcnow()))


@scheduled_job("generate_usage_reports")
def generate_usage_reports() -> JobCounts:
    """Write each tenant's daily and monthly usage reports."""
    return for_each_tenant(
        "generate_usage_reports", partial(data_service.generate_usage_reports, now=clock.utcnow())
    )


@scheduled_job("cleanup_expired_records")
def cleanup_expired_records() -> JobCounts:
    """Apply the retention policy to every tenant."""
    return for_each_tenant(
        "cleanup_expired_records", partial(data_service.purge_expired_records, now=clock.utcnow())
    )
