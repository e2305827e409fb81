"""Prometheus scrape endpoint."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from platform_api.lib import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    return Response(generate_latest(metrics.REGISTRY), mimetype=CONTENT_TYPE_LATEST)
