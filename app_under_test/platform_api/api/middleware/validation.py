"""Validation of request bodies and query strings.

Routes read their inputs through these helpers, which raise :class:`RequestValidationError`
(rendered as 400 with a per-field message) instead of letting bad input reach the services.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from flask import request

from platform_api.api.deps import dependencies
from platform_api.lib.errors import AppError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX_LENGTH = 254  # the longest address SMTP can deliver to (RFC 5321's path limit, less its brackets)


class RequestValidationError(AppError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Invalid request")
        self.errors = errors

    def details(self) -> dict[str, Any]:
        return {"fields": self.errors}


def invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError({field: message})


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def required_string(body: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = body.get(name)
    if value is None:
        raise invalid(name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "must be a non-empty string")
    if len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return value.strip()


def required_email(body: dict[str, Any], name: str) -> str:
    value = required_string(body, name, max_length=EMAIL_MAX_LENGTH)
    if not _EMAIL.match(value):
        raise invalid(name, "must be an email address")
    return value


def optional_string(body: dict[str, Any], name: str, max_length: int = 200) -> str | None:
    return None if body.get(name) is None else required_string(body, name, max_length)


def required_choice(body: dict[str, Any], name: str, choices: Collection[str]) -> str:
    return _one_of(name, required_string(body, name), choices)


def optional_choice(body: dict[str, Any], name: str, choices: Collection[str]) -> str | None:
    value = optional_string(body, name)
    return None if value is None else _one_of(name, value, choices)


def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if not minimum <= value <= maximum:
        raise invalid(name, f"must be between {minimum} and {maximum}")
    return value


def query_choice(name: str, choices: Collection[str]) -> str | None:
    value = request.args.get(name)
    return None if value is None else _one_of(name, value, choices)


def query_datetime(name: str, default: datetime) -> datetime:
    """An ISO 8601 timestamp; values without a zone are taken as UTC."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(name, "must be an ISO 8601 timestamp") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def pagination() -> tuple[int, int]:
    """``(page, page_size)`` from the ``page`` and ``page_size`` query parameters."""
    settings = dependencies().settings
    page_size = query_int("page_size", settings.page_size_default, 1, settings.page_size_max)
    return query_int("page", 1, 1, 100_000), page_size


def _one_of(name: str, value: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise invalid(name, f"must be one of {', '.join(sorted(choices))}")
    return value
