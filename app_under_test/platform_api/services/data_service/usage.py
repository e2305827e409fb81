"""Usage accounting: the daily and monthly usage reports billing and customers look at."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from platform_api.models import UsageReport
from platform_api.services.data_service.aggregates import totals_by_kind

REPORT_PERIODS = (timedelta(days=1), timedelta(days=30))


def generate_usage_reports(session: Session, tenant_id: int, now: datetime) -> int:
    """Add one usage report per period ending at ``now``; returns the number of records counted."""
    counted = 0
    for period in REPORT_PERIODS:
        totals = totals_by_kind(session, tenant_id, now - period, now)
        records = sum(t.records for t in totals)
        session.add(
            UsageReport(
                tenant_id=tenant_id,
                period_start=now - period,
                period_end=now,
                records=records,
                total_amount_cents=sum(t.amount_cents for t in totals),
                breakdown={t.kind: {"records": t.records, "amount_cents": t.amount_cents} for t in totals},
                generated_at=now,
            )
        )
        counted += records
    return counted
