"""Per-application and per-request dependencies of the routes.

The application's shared objects (settings, caches, service clients, the session store) are
created once in :func:`install` and found again through :func:`dependencies`.  A request's ORM
session is opened on first use and closed when the request ends, so routes that never touch the
database never take a pool connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from platform_api.api.response_cache import ResponseCache
from platform_api.lib import redis_client
from platform_api.lib.cache import TTLCache
from platform_api.lib.config import Settings
from platform_api.lib.database.client import db
from platform_api.lib.external_apis import PaymentGatewayClient, ValidationServiceClient

_EXTENSION = "platform_api"


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    api_keys: TTLCache
    validation: ValidationServiceClient
    payments: PaymentGatewayClient
    sessions: redis.Redis | None  # the API session store, when SESSION_STORE=redis
    reports: ResponseCache


def install(app: Flask, settings: Settings) -> None:
    app.extensions[_EXTENSION] = Dependencies(
        settings=settings,
        api_keys=TTLCache("api_keys", ttl=settings.cache_ttl_seconds),
        validation=ValidationServiceClient.from_settings(settings),
        payments=PaymentGatewayClient.from_settings(settings),
        sessions=redis_client.connect(settings) if settings.session_store == "redis" else None,
        reports=ResponseCache("report_bodies"),
    )
    app.teardown_request(close_request_session)


def dependencies() -> Dependencies:
    return current_app.extensions[_EXTENSION]


def request_session() -> Session:
    """The current request's session, opened on first use."""
    session = g.get("db_session")
    if session is None:
        session = g.db_session = db.session()
    return session


def close_request_session(error: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
