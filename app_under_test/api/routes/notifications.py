"""The caller's notification inbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from app_under_test.api import serializers
from app_under_test.api.deps import request_session
from app_under_test.api.middleware.validation import pagination, query_choice
from app_under_test.models.notifications import NOTIFICATION_STATUSES
from app_under_test.services import notification_service

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("")
def list_notifications() -> dict[str, Any]:
    page, page_size = pagination()
    status = query_choice("status", NOTIFICATION_STATUSES)
    result = notification_service.list_notifications(
        request_session(), g.tenant_id, g.user_id, status, page, page_size
    )
    return serializers.page(result, serializers.notification)
