"""Read models behind the reporting endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import TenantStats, UsageReport
from platform_api.services.data_service.aggregates import (
    DailyTotals,
    KindTotals,
    totals_by_day,
    totals_by_kind,
)

USAGE_REPORTS_SHOWN = 10


@dataclass(frozen=True)
class ActivitySummary:
    since: datetime
    by_kind: list[KindTotals]
    daily: list[DailyTotals]

    @property
    def records(self) -> int:
        return sum(totals.records for totals in self.by_kind)

    @property
    def amount_cents(self) -> int:
        return sum(totals.amount_cents for totals in self.by_kind)


def activity_summary(session: Session, tenant_id: int, since: datetime) -> ActivitySummary:
    return ActivitySummary(
        since=since,
        by_kind=totals_by_kind(session, tenant_id, since),
        daily=totals_by_day(session, tenant_id, since),
    )


def usage_overview(session: Session, tenant_id: int) -> tuple[TenantStats | None, list[UsageReport]]:
    """The tenant's running totals and its most recent usage reports, newest first."""
    stats = session.get(TenantStats, tenant_id)
    reports = session.scalars(
        select(UsageReport)
        .where(UsageReport.tenant_id == tenant_id)
        .order_by(UsageReport.generated_at.desc(), UsageReport.id.desc())
        .limit(USAGE_REPORTS_SHOWN)
    )
    return stats, list(reports)
