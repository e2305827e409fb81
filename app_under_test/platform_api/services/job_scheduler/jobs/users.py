"""Jobs over tenants' users: hourly engagement scoring, and seat billing when it is enabled."""

from __future__ import annotations

from functools import partial

from platform_api.lib import clock
from platform_api.lib.database.client import db
from platform_api.lib.external_apis import PaymentGatewayClient
from platform_api.services import user_service
from platform_api.services.audit import record_event
from platform_api.services.job_scheduler.jobs.fanout import for_each_tenant
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job
from platform_api.services.tenant_service import active_tenant_ids


@scheduled_job("recompute_engagement_scores")
def recompute_engagement_scores() -> JobCounts:
    """Recompute every user's engagement score, tenant by tenant."""
    return for_each_tenant(
        "recompute_engagement_scores", partial(user_service.recompute_engagement_scores, now=clock.utcnow())
    )


@scheduled_job("report_billed_seats")
def report_billed_seats(gateway: PaymentGatewayClient) -> JobCounts:
    """Report each active tenant's seats for the period ending now, and audit each report.

    All or nothing: a failed run records the period for no tenant, and the next run reports it
    again (the gateway replaces a period it already has).
    """
    period_end = clock.utcnow().replace(second=0, microsecond=0).isoformat()
    seats_reported = 0
    with db.session() as session:
        tenant_ids = active_tenant_ids(session)
        for tenant_id in tenant_ids:
            seats = user_service.billed_seats(session, tenant_id)
            record_id = gateway.report_seats(tenant_id, seats, period_end)
            record_event(session, tenant_id, None, "billing.seats_reported", f"usage_record:{record_id}")
            seats_reported += sum(seats.values())
        session.commit()
    return {"tenants_processed": len(tenant_ids), "seats_reported": seats_reported}
