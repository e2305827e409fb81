"""Invitations to join the caller's tenant."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import request_session
from platform_api.api.middleware.validation import json_body, optional_choice, required_email
from platform_api.models.tenancy import ROLES
from platform_api.services import user_service

bp = Blueprint("invitations", __name__, url_prefix="/invitations")


@bp.post("")
def invite_user() -> tuple[dict[str, Any], int]:
    body = json_body()
    email = required_email(body, "email")
    role = optional_choice(body, "role", ROLES) or "member"
    invitation = user_service.invite_user(request_session(), g.tenant_id, g.user_id, email, role)
    return serializers.invitation(invitation), 201
