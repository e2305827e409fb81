"""Every view opens on a range that covers every time its scenario's brief names.

cron-storm's brief names a 10:00 stall that the overview once opened three hours past (10:10-13:10),
and a candidate concluded the stall was never recorded.  A view's default range depends only on the
recording's window, so each scenario's window is written as a small dataset by the real writer and
every view's page is asked for its range with no ``from``/``to``: the picker states it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from observability_ui.application import create_app
from obsim import scenario as scenarios
from obsim.dataset.writer import DatasetWriter
from obsim.timerange import parse_instant, whole_recording

VIEWS = ("/", "/metrics", "/logs", "/traces", "/database", "/jobs", "/alerts")
# A clock time as a brief writes it: 13:03, 09:24; not a ratio or part of a longer number.
CLOCK_TIME = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
SHOWN = re.compile(r'data-testid="range-shown" data-start="([0-9.]+)" data-end="([0-9.]+)"')
SCENARIOS = scenarios.load_all()


def brief_times(scenario: scenarios.Scenario) -> list[float]:
    """Every clock time the brief names, on the day of the scenario's window."""
    day = scenario.window.start.astimezone(UTC).date()
    return [
        datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=UTC).timestamp()
        for hour, minute in CLOCK_TIME.findall(scenario.brief)
    ]


def _window_dataset(directory: Path, scenario: scenarios.Scenario) -> Path:
    """A recording of the scenario's window with one gauge scraped every 15 s."""
    start, end = scenario.window.start.timestamp(), scenario.window.end.timestamp()
    writer = DatasetWriter(directory / scenario.id)
    series = writer.series_id("process_open_fds", "gauge", "open file descriptors", "process_open_fds", {})
    writer.add_samples((series, start + 15 * i, 40.0 + i % 7) for i in range(int((end - start) // 15) + 1))
    return writer.finish({"scenario": scenario.id, "window_start": start, "window_end": end})


def test_the_briefs_name_times_and_the_parser_reads_them():
    cron_storm = next(s for s in SCENARIOS if s.id == "cron-storm")
    named = [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in brief_times(cron_storm)]
    assert named == ["12:03", "10:00", "11:00", "12:00", "13:00"]
    assert all(brief_times(s) for s in SCENARIOS if s.faulty), "every page quotes its time"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_every_view_opens_on_a_range_covering_the_brief(tmp_path, scenario):
    times = brief_times(scenario)
    start, end = scenario.window.start.timestamp(), scenario.window.end.timestamp()
    assert all(start <= t <= end for t in times), f"{scenario.id}: a brief time outside its own window"
    client = create_app(_window_dataset(tmp_path, scenario), brief=scenario.brief).test_client()
    for view in VIEWS:
        response = client.get(view)
        assert response.status_code == 200, f"{scenario.id} {view}: {response.status_code}"
        shown = SHOWN.search(response.get_data(as_text=True))
        assert shown, f"{scenario.id} {view}: no range shown"
        first, last = float(shown.group(1)), float(shown.group(2))
        missed = [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in times if not first <= t <= last]
        assert not missed, f"{scenario.id} {view} opens on {first}-{last}, missing the brief's {missed}"
        assert (first, last) == (start, end), f"{scenario.id} {view}: not the whole recording"


@pytest.mark.parametrize(
    ("seconds", "typed"),
    [(3 * 3600, "now-3h"), (200 * 60, "now-200m"), (35 * 60, "now-35m"), (95.5, "now-96s")],
)
def test_the_whole_recording_is_written_as_the_picker_reads_it(seconds, typed):
    window = (1_000_000.0, 1_000_000.0 + seconds)
    assert whole_recording(window) == typed
    assert parse_instant(typed, window[1]) <= window[0]
