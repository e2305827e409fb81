"""The activity report: what a tenant imported over a period, for the dashboard's activity panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import DataRecord
from platform_api.services.data_service.aggregates import KindTotals, totals_by_kind

LATEST_RECORDS_SHOWN = 25


@dataclass(frozen=True)
class ActivityReport:
    since: datetime
    until: datetime
    by_kind: list[KindTotals]
    latest: list[DataRecord]


def activity_report(session: Session, tenant_id: int, since: datetime, until: datetime) -> ActivityReport:
    """Totals per kind over ``[since, until)`` and the most recent records in it, newest first."""
    latest = session.scalars(
        select(DataRecord)
        .where(
            DataRecord.tenant_id == tenant_id,
            DataRecord.created_at >= since,
            DataRecord.created_at < until,
        )
        .order_by(DataRecord.created_at.desc(), DataRecord.id.desc())
        .limit(LATEST_RECORDS_SHOWN)
    )
    return ActivityReport(
        since=since,
        until=until,
        by_kind=totals_by_kind(session, tenant_id, since, until),
        latest=list(latest),
    )
