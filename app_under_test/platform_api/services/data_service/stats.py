"""Per-tenant running totals (``tenant_stats``).

Dashboards read these instead of counting records on every page view; the hourly sync job keeps
them current.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_api.models import DataRecord, TenantStats


def sync_tenant_stats(session: Session, tenant_id: int, now: datetime) -> int:
    """Recompute one tenant's totals from its records; returns the number of records counted."""
    records, amount, last_record_at = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(DataRecord.amount_cents), 0),
            func.max(DataRecord.created_at),
        ).where(DataRecord.tenant_id == tenant_id)
    ).one()
    stats = session.get(TenantStats, tenant_id)
    if stats is None:
        stats = TenantStats(tenant_id=tenant_id)
        session.add(stats)
    stats.records_total = records
    stats.amount_total_cents = int(amount)
    stats.last_record_at = last_record_at
    stats.last_synced_at = now
    return records
