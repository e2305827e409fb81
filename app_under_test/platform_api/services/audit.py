"""Writing the audit trail; every state change made on a tenant's behalf records who did it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from platform_api.models import AuditEvent


def record_event(session: Session, tenant_id: int, actor_id: int | None, action: str, target: str) -> None:
    """Add an audit event to the caller's transaction, so it commits (or not) with the change."""
    session.add(AuditEvent(tenant_id=tenant_id, actor_id=actor_id, action=action, target=target))
