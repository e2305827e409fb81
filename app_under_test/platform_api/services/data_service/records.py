"""Importing, listing and exporting data records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from platform_api.lib import clock
from platform_api.lib.database.transactions import transaction
from platform_api.models import DataRecord
from platform_api.services.audit import record_event
from platform_api.services.data_service.aggregates import KindTotals, totals_by_kind


@dataclass(frozen=True)
class NewRecord:
    kind: str
    amount_cents: int
    payload: dict[str, Any] = field(default_factory=dict)


def import_records(
    tenant_id: int, actor_id: int, source: str, records: Sequence[NewRecord], timeout: float | None
) -> int:
    """Insert a batch atomically: either the whole batch is stored or none of it is.

    Integrations retry failed batches as a unit, so a partial import would duplicate records.
    """
    created_at = clock.utcnow()
    rows = [
        {
            "tenant_id": tenant_id,
            "source": source,
            "kind": record.kind,
            "amount_cents": record.amount_cents,
            "payload": record.payload,
            "created_at": created_at,
        }
        for record in records
    ]
    with transaction("import_records", timeout=timeout) as session:
        session.execute(insert(DataRecord), rows)
        record_event(session, tenant_id, actor_id, "data.imported", f"source:{source}")
    return len(rows)


def list_records(session: Session, tenant_id: int, since: datetime, limit: int) -> list[DataRecord]:
    """Records created at or after ``since``, oldest first; clients page by passing the last timestamp."""
    return list(
        session.scalars(
            select(DataRecord)
            .where(DataRecord.tenant_id == tenant_id, DataRecord.created_at >= since)
            .order_by(DataRecord.created_at, DataRecord.id)
            .limit(limit)
        )
    )


def export_by_kind(session: Session, tenant_id: int, since: datetime) -> list[KindTotals]:
    return totals_by_kind(session, tenant_id, since)
