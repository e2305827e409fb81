"""Keeps each API caller's session record fresh (``SESSION_STORE=redis``).

Runs after authentication on every ``/api/v1`` request.  The record is a convenience for the
dashboard, so the request never fails because of it: when the session store cannot be reached
the request goes on and a warning is logged.
"""

from __future__ import annotations

import logging

import redis
from flask import g, request

from platform_api.api.deps import dependencies
from platform_api.services import session_service

logger = logging.getLogger(__name__)


def track_session() -> None:
    """``before_request`` hook: refresh the caller's session record, best effort."""
    deps = dependencies()
    if deps.sessions is None:
        return
    try:
        session_service.record_activity(
            deps.sessions,
            g.tenant_id,
            g.user_id,
            request.headers.get("X-Forwarded-For", request.remote_addr or ""),
            request.headers.get("User-Agent", ""),
            deps.settings.session_ttl_seconds,
        )
    except redis.RedisError as error:
        logger.warning("session store unavailable", extra={"error.type": type(error).__name__})
