"""Email delivery of queued notifications, with a bounded number of attempts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib.external_apis import EmailProviderClient
from platform_api.lib.http_client import ExternalServiceError
from platform_api.models import Notification, User

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH_SIZE = 50


@dataclass(frozen=True)
class DeliveryCounts:
    sent: int
    failed: int


def retry_failed_notifications(
    session: Session, email: EmailProviderClient, now: datetime, batch_size: int = BATCH_SIZE
) -> DeliveryCounts:
    """Send the oldest queued or previously failed notifications, up to ``batch_size`` of them.

    A notification that fails ``MAX_ATTEMPTS`` times stays ``failed`` and is no longer retried.
    Each send is its own provider call: one refused address fails its notification, not the batch,
    and the batch commits once, so a crash mid-batch sends those notifications again next run.
    """
    pending = session.execute(
        select(Notification, User.email)
        .join(User, User.id == Notification.user_id)
        .where(Notification.status.in_(("queued", "failed")), Notification.attempts < MAX_ATTEMPTS)
        .order_by(Notification.created_at, Notification.id)
        .limit(batch_size)
    ).all()
    sent = failed = 0
    for notification, address in pending:
        notification.attempts += 1
        try:
            email.send(address, notification.subject, notification.body)
        except ExternalServiceError as exc:
            notification.status = "failed"
            failed += 1
            logger.warning(
                "notification delivery failed",
                extra={
                    "notification.id": notification.id,
                    "attempts": notification.attempts,
                    "error": str(exc),
                },
            )
            continue
        notification.status = "sent"
        notification.sent_at = now
        sent += 1
    session.commit()
    return DeliveryCounts(sent=sent, failed=failed)
