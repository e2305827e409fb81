"""Seats: what a tenant is billed for, one per user, priced by role."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import User


def billed_seats(session: Session, tenant_id: int) -> dict[str, int]:
    """The tenant's seats per role.

    The users are read ``FOR UPDATE``: a role change made while the seats are being reported waits
    for the report to be recorded, so the gateway and the audit trail agree on every seat's price.
    """
    roles = session.scalars(select(User.role).where(User.tenant_id == tenant_id).with_for_update())
    return dict(Counter(roles))
