"""The UI's time picker: relative to the recording's end, absolute, clamped, clear errors."""

import pytest

from observability_ui.timerange import TimeRangeError, format_utc, resolve

WINDOW = (1773136200.0, 1773148200.0)  # 2026-03-10 09:50 - 13:10 UTC


def test_relative_ranges_count_back_from_the_end_of_the_recording():
    r = resolve("now-1h", "now", WINDOW)
    assert (r.start, r.end) == (WINDOW[1] - 3600, WINDOW[1])
    assert r.query() == {"from": "now-1h", "to": "now"}
    assert r.adjusted == ""


def test_defaults_and_clamping_to_the_window():
    r = resolve(None, None, WINDOW, default="now-24h")
    assert (r.start, r.end) == WINDOW
    assert r.adjusted == "clipped to the recording, 2026-03-10 09:50:00 UTC – 2026-03-10 13:10:00 UTC"


def test_absolute_iso_and_epoch_forms_are_utc():
    r = resolve("2026-03-10T10:00:00", "2026-03-10T10:30:00Z", WINDOW)
    assert r.start == 1773136800.0 and r.end == 1773138600.0
    assert resolve("1773136800", "1773138600000", WINDOW).end == 1773138600.0
    assert format_utc(r.start) == "2026-03-10 10:00:00 UTC"


def test_a_few_seconds_are_kept_as_asked():
    r = resolve("2026-03-10T10:00:03Z", "2026-03-10T10:00:06.5Z", WINDOW)
    assert (r.start, r.end) == (1773136803.0, 1773136806.5)
    assert r.adjusted == ""


def test_a_range_under_a_second_is_widened_around_its_middle_and_says_so():
    r = resolve("1773136800.2", "1773136800.4", WINDOW)
    assert (r.start, r.end) == pytest.approx((1773136799.8, 1773136800.8))
    assert r.adjusted == "widened to 1 s, the shortest range shown"
    at_the_end = resolve("now-0.1s", "now", WINDOW)
    assert (at_the_end.start, at_the_end.end) == (WINDOW[1] - 1.0, WINDOW[1])


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("now", "now-1h", "ends"),
        ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", "outside the recorded window"),
        ("yesterday", "now", "cannot read 'yesterday'"),
        ("now-1y", "now", "cannot read"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(start, end, message):
    with pytest.raises(TimeRangeError, match=message):
        resolve(start, end, WINDOW)


def test_step_never_finer_than_the_scrape_interval():
    assert resolve("now-5m", "now", WINDOW).step() == 15.0
    assert resolve("now-3h", "now", WINDOW).step() == 45.0
