"""The caller's notification inbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import request_session
from platform_api.api.middleware.validation import pagination, query_choice
from platform_api.models.notifications import NOTIFICATION_STATUSES
from platform_api.services import notification_service

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("")
def list_notifications() -> dict[str, Any]:
    page, page_size = pagination()
    status = query_choice("status", NOTIFICATION_STATUSES)
    result = notification_service.list_notifications(
        request_session(), g.tenant_id, g.user_id, status, page, page_size
    )
    return serializers.page(result, serializers.notification)
