"""The tenant's active API sessions, for the dashboard's "Active sessions" page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from platform_api.api.deps import dependencies
from platform_api.lib.errors import NotFoundError
from platform_api.services import session_service

bp = Blueprint("sessions", __name__, url_prefix="/sessions")


@bp.get("")
def list_sessions() -> dict[str, Any]:
    store = dependencies().sessions
    if store is None:
        raise NotFoundError("session tracking", "for this deployment")
    items = session_service.list_active_sessions(store, g.tenant_id)
    return {"items": items, "total": len(items)}
