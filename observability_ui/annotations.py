"""Deploy markers on the dashboard's charts, read from the service's build-info metric.

A Grafana annotation query over ``service_build_info`` does the same: each release reports its
version as a label, so a version whose series begins inside the range is a release that started
serving then.  Versions already serving when the range begins are not marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from observability_ui import releases
from obsim.timerange import TimeRange


@dataclass(frozen=True)
class Deploy:
    at: float  # the first scrape that saw the new version
    version: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "version": self.version}


def deploys(tr: TimeRange) -> list[Deploy]:
    """Releases that started serving inside the range, oldest first."""
    return [
        Deploy(release.first_seen, release.version)
        for release in releases.serving(tr)
        if not release.serving_at_start
    ]


def layout(markers: list[Deploy]) -> dict[str, Any]:
    """Plotly layout entries: a dashed vertical line and a label per deploy."""
    if not markers:
        return {}
    when = [datetime.fromtimestamp(d.at, UTC).strftime("%Y-%m-%d %H:%M:%S") for d in markers]
    return {
        "shapes": [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x,
                "x1": x,
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "width": 1, "color": "#8a63d2"},
            }
            for x in when
        ],
        "annotations": [
            {
                "x": x,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "text": f"deploy {d.version}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"size": 10, "color": "#8a63d2"},
            }
            for x, d in zip(when, markers, strict=True)
        ],
    }
