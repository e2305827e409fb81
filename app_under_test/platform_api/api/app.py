"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from platform_api.api import deps
from platform_api.api.middleware import error_handler, request_logging, telemetry
from platform_api.api.routes import register_routes
from platform_api.lib import metrics
from platform_api.lib.config import Settings, load_settings
from platform_api.lib.database.client import db


def create_app(settings: Settings | None = None, **engine_options: Any) -> Flask:
    """Build the API application.

    Configures the database unless the process already did (``engine_options`` are passed to
    :meth:`db.configure`).  Logging and the job scheduler are process-level concerns and are left
    to the entry point.  Telemetry hooks are registered first so the server span encloses all
    other request handling.
    """
    settings = settings or load_settings()
    metrics.BUILD.info({"version": settings.service_version})
    if not db.configured:
        db.configure(settings, **engine_options)
    app = Flask("platform_api")
    telemetry.init_app(app)
    request_logging.init_app(app)
    error_handler.init_app(app)
    deps.install(app, settings)
    register_routes(app)
    return app
