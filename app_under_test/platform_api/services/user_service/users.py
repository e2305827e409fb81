"""The tenant's user directory."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib.errors import ConflictError, NotFoundError
from platform_api.models import User
from platform_api.services.audit import record_event
from platform_api.services.pagination import Page, paginate


def list_users(session: Session, tenant_id: int, page: int, page_size: int) -> Page[User]:
    return paginate(session, User, [User.tenant_id == tenant_id], [User.id], page, page_size)


def get_user(session: Session, tenant_id: int, user_id: int) -> User:
    user = session.scalar(select(User).where(User.id == user_id, User.tenant_id == tenant_id))
    if user is None:
        raise NotFoundError("user", user_id)
    return user


def member_id(session: Session, tenant_id: int, email: str) -> int | None:
    """The id of the tenant's user with ``email`` (already lower-cased, as stored), if any."""
    return session.scalar(select(User.id).where(User.tenant_id == tenant_id, User.email == email))


def create_user(session: Session, tenant_id: int, actor_id: int, email: str, name: str, role: str) -> User:
    """Add a user; emails are unique within a tenant (the same person may belong to several)."""
    email = email.lower()
    if member_id(session, tenant_id, email) is not None:
        raise ConflictError(f"a user with email {email} already exists")
    user = User(tenant_id=tenant_id, email=email, name=name, role=role)
    session.add(user)
    session.flush()
    record_event(session, tenant_id, actor_id, "user.created", f"user:{user.id}")
    session.commit()
    return user


def update_user(
    session: Session, tenant_id: int, actor_id: int, user_id: int, name: str | None, role: str | None
) -> User:
    """Change a user's display name and/or role; fields left as None are kept."""
    user = get_user(session, tenant_id, user_id)
    if name is not None:
        user.name = name
    if role is not None:
        user.role = role
    record_event(session, tenant_id, actor_id, "user.updated", f"user:{user.id}")
    session.commit()
    return user
