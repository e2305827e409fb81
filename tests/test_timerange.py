"""The UI's time picker: relative to the recording's end, absolute, clamped, clear errors."""

import re

import pytest

from obsim.timerange import TimeRangeError, check_instant, format_utc, resolve, resolve_instant

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


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("nan", "cannot read 'nan'"),  # float() reads these four
        ("inf", "cannot read 'inf'"),
        ("1e300", "cannot read '1e300'"),
        ("1_773_136_800", "cannot read '1_773_136_800'"),
        ("١٧٧٣١٣٦٨٠٠", "cannot read"),  # and Arabic-Indic digits
        ("now-١h", "cannot read"),
        ("-1773136800", "cannot read"),
        ("9" * 30, "is not a time between 1970 and 9999"),
        ("9" * 400, "is not a time between 1970 and 9999"),  # float() makes it inf
        ("now-99999999999999d", "reaches back more than 3660 days"),
        ("now-" + "9" * 400 + "s", "reaches back more than"),
    ],
)
def test_a_time_no_one_would_type_is_refused_naming_its_parameter(typed, message):
    with pytest.raises(TimeRangeError, match=f"^from: .*{re.escape(message)}"):
        resolve(typed, "now", WINDOW)
    with pytest.raises(TimeRangeError, match=re.escape(message)):
        check_instant(typed)


def test_an_instant_outside_the_recording_is_refused_not_snapped_to_its_edge():
    assert resolve_instant("now-5m", WINDOW) == WINDOW[1] - 300
    assert resolve_instant("2026-03-10T09:50:00Z", WINDOW) == WINDOW[0]
    for outside in ("0", "2026-03-10T09:49:59Z", "2099-01-01"):
        with pytest.raises(TimeRangeError, match="outside the recorded window"):
            resolve_instant(outside, WINDOW)
