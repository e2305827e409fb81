"""Seats: what a tenant is billed for, one per user, priced by role."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import User


def billed_seats(session: Session, tenant_id: int) -> dict[str, int]:
    """The tenant's seats per role, as they are billed.

    Read ``FOR UPDATE`` so that the roles counted are the roles billed: the gateway and the audit
    trail then agree on every seat's price.
    """
    roles = session.scalars(select(User.role).where(User.tenant_id == tenant_id).with_for_update())
    return dict(Counter(roles))
