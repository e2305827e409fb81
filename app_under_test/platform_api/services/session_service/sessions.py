"""API session records in the shared Redis.

Every authenticated request refreshes its caller's record, ``session:<tenant>:<user>:<address>``,
which expires ``SESSION_TTL_SECONDS`` after the caller's last request.  The dashboard's "Active
sessions" page lists a tenant's records, so admins can see which integrations are calling, from
where, and revoke a key that should not be in use.  Records are JSON documents; Redis is the only
copy, since losing them loses nothing but that view.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from platform_api.lib import clock

KEY_PREFIX = "session"


def session_key(tenant_id: int, user_id: int, client_addr: str) -> str:
    return f"{KEY_PREFIX}:{tenant_id}:{user_id}:{client_addr}"


def record_activity(
    store: redis.Redis, tenant_id: int, user_id: int, client_addr: str, user_agent: str, ttl: int
) -> None:
    """Create or refresh the caller's session record (one write, expiring ``ttl`` seconds later)."""
    record = {
        "user_id": user_id,
        "client_addr": client_addr,
        "user_agent": user_agent,
        "last_seen": clock.now(),
    }
    store.set(session_key(tenant_id, user_id, client_addr), json.dumps(record), ex=ttl)


def list_active_sessions(store: redis.Redis, tenant_id: int) -> list[dict[str, Any]]:
    """The tenant's live session records, most recently seen first.

    Records expire on their own, so whatever is still stored is active.
    """
    keys = store.keys(f"{KEY_PREFIX}:{tenant_id}:*")
    if not keys:
        return []
    records = [json.loads(raw) for raw in store.mget(keys) if raw is not None]
    return sorted(records, key=lambda record: record["last_seen"], reverse=True)
