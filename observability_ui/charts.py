"""Plotly figures as plain JSON, built on the server and drawn by ``static/app.js``.

Long ranges are downsampled by keeping each bucket's maximum, so a two-minute spike is still
visible in a 24-hour view (averaging or picking one point per step would hide it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from observability_ui.json_provider import OPTIONS

MAX_POINTS = 720


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def downsample_max(
    points: Sequence[tuple[float, float]], max_points: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """At most ``max_points`` points; each kept point is the maximum of its bucket."""
    if len(points) <= max_points:
        return list(points)
    size = math.ceil(len(points) / max_points)
    out = []
    for i in range(0, len(points), size):
        bucket = points[i : i + size]
        out.append((bucket[0][0], max(value for _, value in bucket)))
    return out


def line(name: str, points: Sequence[tuple[float, float]], **style: Any) -> dict[str, Any]:
    kept = downsample_max(points)
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [_iso(ts) for ts, _ in kept],
        "y": [v for _, v in kept],  # NaN is written as null: a gap in the line
        "line": {"width": 1.5, **style.pop("line", {})},
        **style,
    }


def figure(traces: Iterable[dict[str, Any]], y_title: str = "", y_format: str = "", **layout: Any) -> str:
    """The JSON for a ``data-figure`` attribute."""
    yaxis: dict[str, Any] = {"title": {"text": y_title}} if y_title else {}
    if y_format:
        yaxis["tickformat"] = y_format
    return orjson.dumps({"data": list(traces), "layout": {"yaxis": yaxis, **layout}}, option=OPTIONS).decode()
