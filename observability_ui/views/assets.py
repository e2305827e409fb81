"""Static assets that ship inside Python packages (plotly.js), served without a CDN or build step."""

from __future__ import annotations

from flask import Blueprint, send_file

bp = Blueprint("assets", __name__)


@bp.get("/assets/plotly.min.js")
def plotly() -> object:
    from observability_ui.application import PLOTLY_JS

    return send_file(PLOTLY_JS, mimetype="text/javascript", max_age=86400)
