"""Loki's HTTP API is not served here: the platform offers Prometheus's API to tools, not Loki's.

A tool pointed at the platform as at a Loki (logcli, a Grafana Loki data source, a script calling
``/loki/api/v1/query_range``) gets a JSON 404 that says so and where logs are queried instead,
rather than a page meant for a browser.  In an interview such a call is authorised as Prometheus's
API is (the candidate's cookie or API token, :mod:`observability_ui.candidate_session`), so only a
candidate who may work now learns it.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

bp = Blueprint("loki_api", __name__)

PREFIX = "/loki"
NOT_OFFERED = (
    "The Loki API is not offered here. Logs are queried with LogQL at /api/logs (records) and"
    " /api/logs/query_range (metric queries), described in /api/openapi.json, and on the Logs page."
)


def is_loki_api(path: str) -> bool:
    """Whether ``path`` is one of Loki's (``/loki`` and everything under it)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


@bp.route(PREFIX, methods=["GET", "POST"])
@bp.route(f"{PREFIX}/<path:rest>", methods=["GET", "POST"])
def not_offered(rest: str = "") -> Response:
    """404 in JSON for every Loki path, whatever it asks."""
    response = current_app.json.response({"error": NOT_OFFERED})
    response.status_code = 404
    return response
