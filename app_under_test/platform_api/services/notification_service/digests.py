"""Activity digests: a daily summary email for each tenant's owners and admins."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_api.models import AuditEvent, DataRecord, Notification, User
from platform_api.services.notification_service.queue import queue_notification

DIGEST_SUBJECT = "Your daily workspace activity"
DIGEST_PERIOD = timedelta(days=1)
DIGEST_ROLES = ("owner", "admin")


def send_activity_digests(session: Session, tenant_id: int, now: datetime) -> int:
    """Queue a digest for each owner/admin who has not had one in the last day.

    Returns the number of data records summarised.  Runs hourly, so a recipient gets their digest
    within an hour of the previous one turning a day old.
    """
    since = now - DIGEST_PERIOD
    records, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(DataRecord.amount_cents), 0)).where(
            DataRecord.tenant_id == tenant_id, DataRecord.created_at >= since
        )
    ).one()
    changes = dict(
        session.execute(
            select(AuditEvent.actor_id, func.count())
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.created_at >= since)
            .group_by(AuditEvent.actor_id)
        ).all()
    )
    recipients = session.execute(
        select(User.id, User.name).where(User.tenant_id == tenant_id, User.role.in_(DIGEST_ROLES))
    ).all()
    recently_sent = set(
        session.scalars(
            select(Notification.user_id).where(
                Notification.tenant_id == tenant_id,
                Notification.subject == DIGEST_SUBJECT,
                Notification.created_at >= since,
            )
        )
    )
    for user_id, name in recipients:
        if user_id in recently_sent:
            continue
        body = (
            f"Hi {name},\n\nIn the last 24 hours your workspace imported {records} records "
            f"worth {int(amount) / 100:,.2f} and you made {changes.get(user_id, 0)} changes."
        )
        queue_notification(session, tenant_id, user_id, DIGEST_SUBJECT, body)
    return records
