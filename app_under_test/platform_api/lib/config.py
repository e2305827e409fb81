"""Configuration from the environment, with production defaults.

Every setting has a default that works for a single-host deployment; environments override them
with variables of the same name in upper case (``DB_POOL_SIZE=100``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Settings:
    service_name: str = "platform-api"
    service_version: str = "unknown"
    environment: str = "production"
    host_name: str = "app-1"
    log_level: str = "INFO"

    database_url: str = "postgresql+psycopg://platform@localhost:5432/platform"
    db_pool_size: int = 200
    db_max_overflow: int = 0
    db_pool_timeout: float = 10.0
    db_transaction_timeout: float = 30.0

    cache_ttl_seconds: float = 60.0

    session_store: str = "none"
    redis_url: str = "redis://localhost:6379/0"
    redis_timeout: float = 1.0
    session_ttl_seconds: int = 1800

    validation_service_url: str = "http://validation.internal:8080"
    validation_service_timeout: float = 5.0
    payment_gateway_url: str = "https://api.paystride.com"
    payment_gateway_timeout: float = 30.0
    payment_gateway_api_key: str = ""
    email_provider_url: str = "https://api.mailvane.com"
    email_provider_timeout: float = 5.0
    email_provider_api_key: str = ""
    email_sender: str = "Relaymark <no-reply@relaymark.io>"
    seat_billing: bool = False

    scheduler_enabled: bool = True
    scheduler_max_workers: int = 50

    page_size_default: int = 25
    page_size_max: int = 100


def _coerce(raw: str, kind: Any) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``environ`` (default: the process environment), then ``overrides``."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = environ.get(field.name.upper())
        if raw is not None:
            values[field.name] = _coerce(raw, field.type)
    values.update(overrides)
    return Settings(**values)
