"""API-key authentication for ``/api/v1``.

Clients send their key in ``X-API-Key``.  Keys are stored hashed (SHA-256), so the lookup is by
hash.  Successful lookups are cached for ``CACHE_TTL_SECONDS`` because every request needs one;
revoking a key therefore takes effect within that window.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import g, request
from opentelemetry import trace
from sqlalchemy import select

from platform_api.api.deps import dependencies, request_session
from platform_api.models import ApiKey

API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Principal:
    tenant_id: int
    user_id: int


def authenticate() -> tuple[dict[str, Any], int] | None:
    """``before_request`` hook: resolve the caller or answer 401."""
    key = request.headers.get(API_KEY_HEADER)
    if not key:
        return {"error": "Missing API key"}, 401
    digest = hashlib.sha256(key.encode()).hexdigest()
    cache = dependencies().api_keys
    principal = cache.get(digest)
    if principal is None:
        principal = _lookup(digest)
        if principal is None:
            return {"error": "Invalid API key"}, 401
        cache.set(digest, principal)
    g.tenant_id = principal.tenant_id
    g.user_id = principal.user_id
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("tenant.id", principal.tenant_id)
    return None


def _lookup(key_hash: str) -> Principal | None:
    row = (
        request_session()
        .execute(
            select(ApiKey.tenant_id, ApiKey.user_id).where(
                ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
            )
        )
        .first()
    )
    return Principal(tenant_id=row.tenant_id, user_id=row.user_id) if row is not None else None
