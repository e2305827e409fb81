"""Plotly figures as plain JSON, built on the server and drawn by ``static/app.js``.

Long ranges are downsampled by keeping each bucket's maximum, so a two-minute spike is still
visible in a 24-hour view (averaging or picking one point per step would hide it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from observability_ui.json_provider import OPTIONS

MAX_POINTS = 720
NO_DATA = {
    "text": "No data",
    "xref": "paper",
    "yref": "paper",
    "x": 0.5,
    "y": 0.5,
    "showarrow": False,
    "font": {"size": 14},
}


@lru_cache(maxsize=16_384)  # a page's series share their instants (a few MB at most)
def _iso(ts: float) -> str:
    """Plotly's UTC date text; milliseconds when the instant has them, as in the buckets of a range of
    a few seconds, which would otherwise share one x.  Kept: every series of a chart (and of the
    next request over the same range) has the same instants, and formatting them was a third of an
    overview page's time."""
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-7] if ts == int(ts) else text[:-3]


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


def figure(
    traces: Iterable[dict[str, Any]],
    y_title: str = "",
    y_format: str = "",
    x_range: tuple[float, float] | None = None,
    **layout: Any,
) -> str:
    """The JSON for a ``data-figure`` attribute.

    With ``x_range`` (epoch seconds) the x-axis is that range whatever the data covers, as in
    Grafana: a series that starts late is seen to start late.  A figure without traces says "No
    data" instead of plotly's empty axes (a y-axis of 0 to 4, an x-axis in the year 2000).
    """
    data = list(traces)
    yaxis: dict[str, Any] = {"title": {"text": y_title}} if y_title else {}
    if y_format:
        yaxis["tickformat"] = y_format
    if x_range is not None:
        layout["xaxis"] = {**layout.get("xaxis", {}), "range": [_iso(x_range[0]), _iso(x_range[1])]}
    if not data:
        yaxis["showticklabels"] = False
        layout["annotations"] = [*layout.get("annotations", []), NO_DATA]
    return orjson.dumps({"data": data, "layout": {"yaxis": yaxis, **layout}}, option=OPTIONS).decode()


def spans(name: str, rows: Iterable[tuple[str, float, float]], **style: Any) -> dict[str, Any]:
    """Time spans as thick horizontal lines, one row per label, ``(row, start, end)`` in epoch
    seconds: a state timeline, as Grafana's alert list draws pending and firing periods."""
    x: list[str | None] = []
    y: list[str | None] = []
    for row, start, end in rows:
        x += [_iso(start), _iso(end), None]  # None: a gap, so spans do not join up
        y += [row, row, None]
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, **style}
