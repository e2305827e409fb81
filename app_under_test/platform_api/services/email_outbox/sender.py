"""Sending the email outbox.

Messages go out in the order they were queued, oldest first, so a later message never overtakes an
earlier one: a "your role was changed" notice must not arrive before the invitation it follows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib import clock, metrics
from platform_api.lib.database.client import db
from platform_api.lib.external_apis import EmailProviderClient
from platform_api.lib.http_client import ExternalServiceError
from platform_api.models import OutboundEmail
from platform_api.services.email_outbox.queue import publish_backlog

logger = logging.getLogger(__name__)

BATCH_SIZE = 25
#: Pause after a failed send before the next pass, so a briefly unavailable provider can recover.
RETRY_PAUSE_SECONDS = 2.0


@dataclass(frozen=True)
class OutboxRun:
    sent: int
    failed: int


def send_outbox(email: EmailProviderClient, budget_seconds: float, batch_size: int = BATCH_SIZE) -> OutboxRun:
    """Send pending messages a batch at a time until none is left or ``budget_seconds`` have passed.

    Each pass takes the oldest pending messages and stops at the first one that fails, keeping the
    order; after a short pause the next pass starts again from the oldest pending message.
    """
    deadline = clock.monotonic() + budget_seconds
    sent = failed = 0
    while clock.monotonic() < deadline:
        with db.session() as session:
            publish_backlog(session)
            batch = _oldest_pending(session, batch_size)
            if not batch:
                break
            delivered = _send_in_order(session, email, batch)
        sent += delivered
        if delivered < len(batch):
            failed += 1
            clock.sleep(RETRY_PAUSE_SECONDS)
    return OutboxRun(sent=sent, failed=failed)


def _oldest_pending(session: Session, limit: int) -> list[OutboundEmail]:
    return list(
        session.scalars(
            select(OutboundEmail)
            .where(OutboundEmail.status == "pending")
            .order_by(OutboundEmail.created_at, OutboundEmail.id)
            .limit(limit)
        )
    )


def _send_in_order(session: Session, email: EmailProviderClient, batch: list[OutboundEmail]) -> int:
    """Send ``batch`` in order, committing after each message; returns how many were sent.

    A message that fails stays pending with its attempt recorded, and the rest of the batch waits
    for the next pass.
    """
    for position, message in enumerate(batch):
        message.attempts += 1
        try:
            email.send(message.to_address, message.subject, message.body)
        except ExternalServiceError as exc:
            message.last_error = str(exc)
            session.commit()
            metrics.EMAIL_OUTBOX_DELIVERIES.labels("failed").inc()
            logger.warning(
                "outbound email not sent",
                extra={"email.id": message.id, "email.attempts": message.attempts, "error": str(exc)},
            )
            return position
        message.status = "sent"
        message.sent_at = clock.utcnow()
        session.commit()
        metrics.EMAIL_OUTBOX_DELIVERIES.labels("sent").inc()
    return len(batch)
