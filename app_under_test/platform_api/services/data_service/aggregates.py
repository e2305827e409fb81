"""Aggregations over a tenant's data records, shared by exports, reports and usage accounting.

Every query filters on ``tenant_id`` and a ``created_at`` range first, which the
``(tenant_id, created_at)`` index serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, func, select
from sqlalchemy.orm import Session

from platform_api.models import DataRecord


@dataclass(frozen=True)
class KindTotals:
    kind: str
    records: int
    amount_cents: int


@dataclass(frozen=True)
class DailyTotals:
    day: date
    records: int
    amount_cents: int


def _in_range(tenant_id: int, since: datetime, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = [DataRecord.tenant_id == tenant_id, DataRecord.created_at >= since]
    if until is not None:
        conditions.append(DataRecord.created_at < until)
    return conditions


def totals_by_kind(
    session: Session, tenant_id: int, since: datetime, until: datetime | None = None
) -> list[KindTotals]:
    """Record count and amount per kind in ``[since, until)``, ordered by kind."""
    rows = session.execute(
        select(DataRecord.kind, func.count(), func.coalesce(func.sum(DataRecord.amount_cents), 0))
        .where(*_in_range(tenant_id, since, until))
        .group_by(DataRecord.kind)
        .order_by(DataRecord.kind)
    ).all()
    return [KindTotals(kind, records, int(amount)) for kind, records, amount in rows]


def totals_by_day(session: Session, tenant_id: int, since: datetime) -> list[DailyTotals]:
    """Record count and amount per UTC day since ``since``, oldest day first."""
    day = func.date(DataRecord.created_at, type_=Date)
    rows = session.execute(
        select(day, func.count(), func.coalesce(func.sum(DataRecord.amount_cents), 0))
        .where(*_in_range(tenant_id, since, None))
        .group_by(day)
        .order_by(day)
    ).all()
    return [DailyTotals(d, records, int(amount)) for d, records, amount in rows]
