"""Records tenants push in through integrations, and what the platform derives from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_api.models.base import Base, BigId, utcnow

RECORD_KINDS = ("order", "invoice", "refund", "subscription", "event")


class DataRecord(Base):
    """One imported business record; by far the largest table, always read per tenant and time."""

    __tablename__ = "data_records"
    __table_args__ = (Index("ix_data_records_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    source: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(30))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageReport(Base):
    """Usage of one tenant over one period, with per-kind totals in ``breakdown``."""

    __tablename__ = "usage_reports"
    __table_args__ = (Index("ix_usage_reports_tenant_generated", "tenant_id", "generated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    records: Mapped[int]
    total_amount_cents: Mapped[int] = mapped_column(BigInteger)
    breakdown: Mapped[dict[str, Any]]
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantStats(Base):
    """Denormalised per-tenant totals, refreshed by the sync job so dashboards need not scan records."""

    __tablename__ = "tenant_stats"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    records_total: Mapped[int] = mapped_column(default=0)
    amount_total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    last_record_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime]
