"""Rendering helpers every view shares: the time range and the arguments links must keep."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request

from observability_ui.timerange import TimeRange, iso


def range_args(time_range: TimeRange | None) -> dict[str, str]:
    return time_range.query() if time_range is not None else {}


def range_json(time_range: TimeRange) -> dict[str, object]:
    """The resolved range as the JSON API reports it: epoch seconds and UTC text."""
    return {
        "start": time_range.start,
        "end": time_range.end,
        "start_iso": iso(time_range.start),
        "end_iso": iso(time_range.end),
    }


def render(template: str, time_range: TimeRange | None, **context: Any) -> str:
    """Render a page with the navigation, the time picker and the current range in every link."""
    keep = {k: v for k, v in request.args.items() if k not in {"from", "to", "offset"}}
    return render_template(
        template,
        time_range=time_range,
        range_args=range_args(time_range),
        keep_args=keep,
        view_names=set(current_app.blueprints),
        **context,
    )
