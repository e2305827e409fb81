"""The tenant's user directory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import request_session
from platform_api.api.middleware.validation import (
    invalid,
    json_body,
    optional_choice,
    optional_string,
    pagination,
    required_choice,
    required_email,
    required_string,
)
from platform_api.models.tenancy import ROLES
from platform_api.services import user_service

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("")
def list_users() -> dict[str, Any]:
    page, page_size = pagination()
    result = user_service.list_users(request_session(), g.tenant_id, page, page_size)
    return serializers.page(result, serializers.user)


@bp.post("")
def create_user() -> tuple[dict[str, Any], int]:
    body = json_body()
    email = required_email(body, "email")
    name = required_string(body, "name")
    role = required_choice(body, "role", ROLES)
    user = user_service.create_user(request_session(), g.tenant_id, g.user_id, email, name, role)
    return serializers.user(user), 201


@bp.get("/<int:user_id>")
def get_user(user_id: int) -> dict[str, Any]:
    return serializers.user(user_service.get_user(request_session(), g.tenant_id, user_id))


@bp.patch("/<int:user_id>")
def update_user(user_id: int) -> dict[str, Any]:
    body = json_body()
    name = optional_string(body, "name")
    role = optional_choice(body, "role", ROLES)
    if name is None and role is None:
        raise invalid("body", "must change name or role")
    user = user_service.update_user(request_session(), g.tenant_id, g.user_id, user_id, name, role)
    return serializers.user(user)
