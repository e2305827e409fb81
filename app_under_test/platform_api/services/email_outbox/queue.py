"""Queuing outbound emails, and measuring what waits.

Queuing is an insert in the caller's transaction (the transactional outbox): an invitation and its
email commit together or not at all, and the request never waits for the email provider.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_api.lib import clock, metrics
from platform_api.models import OutboundEmail


def queue_email(session: Session, tenant_id: int, to_address: str, subject: str, body: str) -> None:
    """Add a message to the caller's transaction; it is sent once the transaction commits."""
    session.add(OutboundEmail(tenant_id=tenant_id, to_address=to_address, subject=subject, body=body))


def publish_backlog(session: Session) -> None:
    """Export how many messages wait to be sent and how long the oldest has waited (the outbox's lag)."""
    waiting, oldest = session.execute(
        select(func.count(), func.min(OutboundEmail.created_at)).where(OutboundEmail.status == "pending")
    ).one()
    metrics.EMAIL_OUTBOX_PENDING.set(waiting)
    age = 0.0 if oldest is None else (clock.utcnow() - oldest).total_seconds()
    metrics.EMAIL_OUTBOX_OLDEST_AGE.set(round(age, 3))
