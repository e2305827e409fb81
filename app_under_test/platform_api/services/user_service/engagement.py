"""Engagement scores: how actively each user works with the platform, from 0 to 100.

The score drives the customer-success dashboards and the in-app nudges.  It blends three signals:
how many changes the user made in the last 30 days, how recently they logged in, and how much data
their tenant's integrations pushed in (a tenant whose pipelines run is engaged even if its users
rarely open the UI).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from platform_api.models import AuditEvent, DataRecord, User

WINDOW = timedelta(days=30)
ACTIONS_FOR_FULL_ACTIVITY = 20
RECORDS_FOR_FULL_VOLUME = 100_000


def recompute_engagement_scores(session: Session, tenant_id: int, now: datetime) -> int:
    """Recompute the scores of a tenant's users; returns the number of data records counted."""
    since = now - WINDOW
    actions = dict(
        session.execute(
            select(AuditEvent.actor_id, func.count())
            .where(
                AuditEvent.tenant_id == tenant_id,
                AuditEvent.created_at >= since,
                AuditEvent.actor_id.is_not(None),
            )
            .group_by(AuditEvent.actor_id)
        ).all()
    )
    records = (
        session.scalar(
            select(func.count()).where(DataRecord.tenant_id == tenant_id, DataRecord.created_at >= since)
        )
        or 0
    )
    users = session.execute(select(User.id, User.last_login_at).where(User.tenant_id == tenant_id)).all()
    volume = min(1.0, math.log10(1 + records) / math.log10(1 + RECORDS_FOR_FULL_VOLUME))
    scores = [
        {"id": user_id, "engagement_score": _score(actions.get(user_id, 0), last_login_at, volume, now)}
        for user_id, last_login_at in users
    ]
    if scores:
        session.execute(update(User), scores)
    return records


def _score(actions: int, last_login_at: datetime | None, volume: float, now: datetime) -> float:
    activity = min(1.0, actions / ACTIONS_FOR_FULL_ACTIVITY)
    recency = 0.0
    if last_login_at is not None:
        recency = max(0.0, 1.0 - (now - last_login_at) / WINDOW)
    return round(50 * activity + 30 * recency + 20 * volume, 2)
