"""Liveness and readiness probes for the load balancer and the orchestrator."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from platform_api.api.deps import request_session

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, Any]:
    """Liveness: the process serves requests.  Independent of the database, so a database outage
    does not get healthy processes restarted."""
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> dict[str, Any]:
    """Readiness: the process can get a database connection and run a query."""
    request_session().execute(text("SELECT 1"))
    return {"status": "ready"}
