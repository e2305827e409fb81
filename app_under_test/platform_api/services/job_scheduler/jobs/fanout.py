"""Running a job's work for every tenant.

Tenants are independent, so per-tenant work runs in parallel, one task per tenant, and each task
uses its own session: a slow or failing tenant does not hold up or roll back the others.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from sqlalchemy.orm import Session

from platform_api.lib import concurrency, tracing
from platform_api.lib.database.client import db
from platform_api.services.job_scheduler.jobs.runtime import JobCounts
from platform_api.services.tenant_service import active_tenant_ids

#: Per-tenant work: given a session and a tenant id, returns the number of data records it read.
TenantWork = Callable[[Session, int], int]


def for_each_tenant(job_id: str, work: TenantWork) -> JobCounts:
    """Run ``work`` once per active tenant, in parallel, committing each tenant's session."""
    with db.session() as session:
        tenant_ids = active_tenant_ids(session)
    with concurrency.executor(max_workers=len(tenant_ids), name=job_id) as executor:
        futures = [
            executor.submit(contextvars.copy_context().run, _run_for_tenant, job_id, work, tenant_id)
            for tenant_id in tenant_ids
        ]
        records_scanned = sum(future.result() for future in futures)
    return {"tenants_processed": len(tenant_ids), "records_scanned": records_scanned}


def _run_for_tenant(job_id: str, work: TenantWork, tenant_id: int) -> int:
    with (
        tracing.start_as_current_span(f"{job_id} tenant", attributes={"tenant.id": tenant_id}),
        db.session() as session,
    ):
        records = work(session, tenant_id)
        session.commit()
    return records
