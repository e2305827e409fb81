"""The API's own endpoints: its OpenAPI document and what the recording is."""

from __future__ import annotations

from flask import Blueprint, current_app

from observability_ui import openapi
from observability_ui.request_context import brief, dataset
from observability_ui.views.page import range_json
from obsim.timerange import TimeRange, iso

bp = Blueprint("api_index", __name__)


@bp.get("/api/openapi.json")
def document() -> dict:
    """The document of what this server serves: on an interview server, the candidate's own calls too."""
    return openapi.document(interview="interview" in current_app.blueprints)


@bp.get("/api/dataset")
def describe() -> dict:
    start, end = dataset().window()
    window = TimeRange(start, end, iso(start), iso(end))
    return {"window": range_json(window), "brief": brief()}
