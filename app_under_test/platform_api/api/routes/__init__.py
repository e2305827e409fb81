"""URL routes.  Everything under ``/api/v1`` requires an API key and is scoped to its tenant."""

from __future__ import annotations

from flask import Blueprint, Flask

from platform_api.api.middleware.auth import authenticate
from platform_api.api.middleware.sessions import track_session
from platform_api.api.routes import (
    billing,
    data,
    health,
    invitations,
    metrics,
    notifications,
    reports,
    sessions,
    users,
    workflows,
)


def register_routes(app: Flask) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    api.before_request(authenticate)
    api.before_request(track_session)
    for module in (workflows, users, invitations, data, reports, billing, notifications, sessions):
        api.register_blueprint(module.bp)
    app.register_blueprint(api)
