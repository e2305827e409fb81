"""The notification queue.

Notifications are rows first and emails second: queuing is a cheap insert inside the caller's
transaction, and delivery happens in the background, so a slow email provider never slows down
the code that wants to notify someone.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from platform_api.models import Notification
from platform_api.services.pagination import Page, paginate


def queue_notification(session: Session, tenant_id: int, user_id: int, subject: str, body: str) -> None:
    session.add(
        Notification(
            tenant_id=tenant_id, user_id=user_id, channel="email", subject=subject, body=body, status="queued"
        )
    )


def list_notifications(
    session: Session, tenant_id: int, user_id: int, status: str | None, page: int, page_size: int
) -> Page[Notification]:
    """One user's notifications, newest first."""
    filters = [Notification.tenant_id == tenant_id, Notification.user_id == user_id]
    if status is not None:
        filters.append(Notification.status == status)
    return paginate(
        session,
        Notification,
        filters,
        [Notification.created_at.desc(), Notification.id.desc()],
        page,
        page_size,
    )
