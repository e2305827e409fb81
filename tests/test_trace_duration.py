"""A trace lasts, as Jaeger shows it, from its earliest span's start to its latest span's end.

In cron-storm's stalls the gateway gives up on a report after its 30 s upstream timeout while the
application keeps working on it for minutes: the root span says 30 s, the trace lasts far longer.
Trace search once listed, sorted and filtered such a trace by its root (30 s), so "longest first"
hid exactly the traces worth opening.  The expected figures are computed here from the dataset's
``spans`` view, independently of the search's SQL over the span tables.
"""

from __future__ import annotations

import sqlite3

import pytest

from observability_ui.application import create_app
from obsim.dataset.schema import DATABASE_NAME

pytestmark = pytest.mark.slow

EXTENTS = (
    "SELECT trace_id, max(start + duration) - min(start) AS extent,"
    " max(CASE WHEN parent_span_id IS NULL THEN duration END) AS root FROM spans GROUP BY trace_id"
    " HAVING root IS NOT NULL AND max(service = 'gateway')"  # client requests, not job runs
)


@pytest.fixture(scope="module")
def storm(datasets):
    directory = datasets["cron-storm"]
    with sqlite3.connect(f"file:{directory / DATABASE_NAME}?mode=ro", uri=True) as db:
        extents = {trace: (extent, root) for trace, extent, root in db.execute(EXTENTS)}
    return create_app(directory, brief="The platform stalls on the hour.").test_client(), extents


def test_a_trace_whose_work_outlives_its_root_lasts_until_its_last_span_ends(storm):
    client, extents = storm
    outliving = {trace: extent for trace, (extent, root) in extents.items() if extent > root + 1}
    assert outliving, "the stalls leave the application working after the gateway gave up"
    longest = client.get("/api/traces?service=gateway&sort=longest&limit=20").json["traces"]
    expected = sorted(extents.values(), key=lambda pair: -pair[0])[:20]
    assert [round(t["duration"], 6) for t in longest] == [round(extent, 6) for extent, _ in expected]
    first = longest[0]
    assert first["trace_id"] in outliving and first["duration"] > 60, "longer than the gateway's 30 s"
    spans = client.get(f"/api/traces/{first['trace_id']}").json["spans"]
    root = next(s for s in spans if s["parent_id"] is None)
    assert root["duration"] == pytest.approx(30.0, abs=0.5)
    assert first["duration"] == pytest.approx(
        max(s["start"] + s["duration"] for s in spans) - min(s["start"] for s in spans)
    )
    page = client.get(f"/traces/{first['trace_id']}").get_data(as_text=True)
    assert f"{first['duration'] * 1000:.1f} ms" in page, "the trace page states the same duration"
    listed = client.get("/traces?service=gateway&sort=longest&limit=20").get_data(as_text=True)
    assert f"{first['duration'] * 1000:.1f} ms" in listed


def test_duration_filters_read_the_whole_trace(storm):
    client, extents = storm
    at_least = client.get("/api/traces?service=gateway&min_duration=60s&limit=500").json
    assert at_least["total"] == sum(extent >= 60 for extent, _ in extents.values()) > 0
    assert all(t["duration"] >= 60 for t in at_least["traces"])
    assert any(extents[t["trace_id"]][1] < 60 for t in at_least["traces"]), "roots of 30 s, found"
    at_most = client.get("/api/traces?service=gateway&max_duration=30.5s&sort=longest&limit=500").json
    assert at_most["total"] == sum(extent <= 30.5 for extent, _ in extents.values())
    assert all(t["duration"] <= 30.5 for t in at_most["traces"])
