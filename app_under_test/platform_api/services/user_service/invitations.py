"""Inviting people to a tenant by email."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib.errors import ConflictError
from platform_api.models import Invitation, Tenant, User
from platform_api.services.audit import record_event
from platform_api.services.email_outbox import queue_email
from platform_api.services.user_service.users import member_id

ACCEPT_URL = "https://app.relaymark.io/invitations/{id}/accept"


def invite_user(session: Session, tenant_id: int, actor_id: int, email: str, role: str) -> Invitation:
    """Record an invitation and queue its email in the same transaction.

    Inviting the same address again sends a new email (people lose them); inviting a member is a
    conflict.
    """
    email = email.lower()
    if member_id(session, tenant_id, email) is not None:
        raise ConflictError(f"{email} is already a member")
    workspace, inviter = session.execute(
        select(Tenant.name, User.name).join(User, User.tenant_id == Tenant.id).where(User.id == actor_id)
    ).one()
    invitation = Invitation(tenant_id=tenant_id, email=email, role=role, invited_by=actor_id)
    session.add(invitation)
    session.flush()
    queue_email(
        session,
        tenant_id,
        email,
        f"{inviter} invited you to {workspace}",
        f"{inviter} invited you to join {workspace} as {role}.\n\n"
        f"Accept the invitation: {ACCEPT_URL.format(id=invitation.id)}",
    )
    record_event(session, tenant_id, actor_id, "user.invited", f"invitation:{invitation.id}")
    session.commit()
    return invitation
