"""Data retention: what the platform keeps, and for how long.

Delivered notifications are kept for a month, the audit trail for a year (the contractual
minimum), and data records for the retention window customers are promised.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from platform_api.models import AuditEvent, DataRecord, Notification

NOTIFICATION_RETENTION = timedelta(days=30)
AUDIT_RETENTION = timedelta(days=365)
DATA_RETENTION = timedelta(days=180)


def purge_expired_records(session: Session, tenant_id: int, now: datetime) -> int:
    """Delete a tenant's rows past retention; returns the number of data records examined."""
    session.execute(
        delete(Notification)
        .where(
            Notification.tenant_id == tenant_id,
            Notification.status == "sent",
            Notification.created_at < now - NOTIFICATION_RETENTION,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id, AuditEvent.created_at < now - AUDIT_RETENTION)
        .execution_options(synchronize_session=False)
    )
    cutoff = now - DATA_RETENTION
    records, oldest = session.execute(
        select(func.count(), func.min(DataRecord.created_at)).where(DataRecord.tenant_id == tenant_id)
    ).one()
    if oldest is not None and oldest < cutoff:
        session.execute(
            delete(DataRecord)
            .where(DataRecord.tenant_id == tenant_id, DataRecord.created_at < cutoff)
            .execution_options(synchronize_session=False)
        )
    return records
