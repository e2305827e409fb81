"""Which tenants the platform currently serves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import Tenant
from platform_api.models.tenancy import CANCELLED_PLAN


def active_tenant_ids(session: Session) -> list[int]:
    """Ids of every tenant that has not cancelled, in id order."""
    return list(session.scalars(select(Tenant.id).where(Tenant.plan != CANCELLED_PLAN).order_by(Tenant.id)))
