"""The one time picker: ``from``/``to`` in every URL, relative to the dataset's end or absolute.

A dataset is a recording, so "now" is the end of its window: ``now-1h`` means the last hour of
the recording.  Accepted forms, as Grafana users type them: ``now``, ``now-15m``, ``now-2h``,
``now-1d``; ISO 8601 timestamps (UTC when no offset is given); epoch seconds or milliseconds.
Ranges are clamped to the window and widened to at least :data:`MIN_SPAN_S`, and the range says so
(``adjusted``) so the page can show it; inverted, empty or absurd ranges are refused with a message.

Only what a person types is read: ASCII digits, no sign, exponent, ``_`` or ``nan``/``inf`` (which
Python's ``float()`` would take), a look-back of at most :data:`MAX_LOOKBACK_S`, and instants between
1970 and 9999 (what a UTC date can show): anything else could only be a typo or a probe.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_RELATIVE = re.compile(r"now(?:\s*-\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]))?", re.ASCII)
_EPOCH = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# The instants a time may name: from the epoch to the last second a UTC date can be written for.
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
# How far back ``now-...`` may reach: far beyond any recording, short of nonsense.
MAX_LOOKBACK_S = 10 * 366 * 86400
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Short enough to zoom in on the second a transaction began; a query needs some width to divide.
MIN_SPAN_S = 1.0
# Every view's default range: the whole recording.  A brief names times from the first stall to the
# page (cron-storm's 10:00 stall, three hours before its 13:03 page), and a view opening on less
# would have the candidate conclude the first was never recorded.
WHOLE_RECORDING = "recording"

PRESETS = (
    ("Last 5 minutes", "now-5m"),
    ("Last 15 minutes", "now-15m"),
    ("Last 30 minutes", "now-30m"),
    ("Last 1 hour", "now-1h"),
    ("Last 3 hours", "now-3h"),
    ("Last 6 hours", "now-6h"),
    ("Last 24 hours", "now-24h"),
)


class TimeRangeError(ValueError):
    """A time range the candidate typed cannot be used; the message says why."""


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float
    raw_from: str
    raw_to: str
    adjusted: str = ""  # how the range differs from what was asked, for the time picker to say

    @property
    def span(self) -> float:
        return self.end - self.start

    def step(self, points: int = 240, minimum: float = 15.0) -> float:
        """A chart step giving about ``points`` points, never finer than the scrape interval."""
        raw = max(self.span / points, minimum)
        return float(round(raw / minimum) * minimum) or minimum

    def query(self) -> dict[str, str]:
        """The URL parameters that reproduce this range."""
        return {"from": self.raw_from, "to": self.raw_to}


def parse_instant(text: str, now: float) -> float:
    """Epoch seconds for one typed time; :class:`TimeRangeError` saying why it cannot be one."""
    value = text.strip()
    if not value:
        raise TimeRangeError("empty time")
    match = _RELATIVE.fullmatch(value)
    if match:
        amount, unit = match.groups()
        back = float(amount) * _UNIT_SECONDS[unit] if amount else 0.0
        if not back <= MAX_LOOKBACK_S:  # also refuses an amount too long to be finite
            raise TimeRangeError(f"{shown(value)} reaches back more than {MAX_LOOKBACK_S // 86400} days")
        return now - back
    if _EPOCH.fullmatch(value):
        number = float(value)
        return _bounded(number / 1000.0 if number > 1e11 else number, value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if value.isascii() else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise TimeRangeError(
            f"cannot read {shown(value)} as a time: use now-15m, an ISO timestamp like 2026-03-10T10:00:00Z, or epoch seconds"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _bounded(parsed.timestamp(), value)


def check_instant(text: str) -> None:
    """Refuse a time no recording could resolve (unreadable, not finite, absurd): what can be told
    without the recording; whether it falls inside the window is :func:`resolve`'s question."""
    parse_instant(text, LATEST)


def _bounded(moment: float, typed: str) -> float:
    if not 0.0 <= moment <= LATEST:  # not finite fails too
        raise TimeRangeError(f"{shown(typed)} is not a time between 1970 and 9999")
    return moment


def shown(typed: str, limit: int = 40) -> str:
    """The typed text quoted for a message, cut short: a 5,000-digit number is not repeated back."""
    return repr(typed if len(typed) <= limit else typed[:limit] + "…")


def whole_recording(window: tuple[float, float]) -> str:
    """``now-...`` reaching back to the window's start, in the largest unit that is exact, so the
    range travels in links as the picker writes it and still moves with a live recording's end."""
    seconds = max(math.ceil(window[1] - window[0]), 1)
    for unit in ("h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"now-{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"now-{seconds}s"


def resolve(
    raw_from: str | None,
    raw_to: str | None,
    window: tuple[float, float],
    default: str = WHOLE_RECORDING,
) -> TimeRange:
    """Turn URL parameters into a range inside the dataset's window; without ``from``, ``default``
    (:data:`WHOLE_RECORDING` unless a view says otherwise)."""
    window_start, window_end = window
    if not raw_from:
        raw_from = whole_recording(window) if default == WHOLE_RECORDING else default
    raw_from = raw_from.strip()
    raw_to = (raw_to or "now").strip()
    start = _named_instant("from", raw_from, window_end)
    end = _named_instant("to", raw_to, window_end)
    if end <= start:
        raise TimeRangeError(f"the range ends ({format_utc(end)}) before it starts ({format_utc(start)})")
    if end < window_start or start > window_end:
        raise TimeRangeError(
            f"the range {format_utc(start)} – {format_utc(end)} is outside the recorded window "
            f"{format_utc(window_start)} – {format_utc(window_end)}"
        )
    start, end, adjusted = _fit(start, end, window)
    return TimeRange(start, end, raw_from, raw_to, adjusted)


def resolve_instant(raw: str, window: tuple[float, float]) -> float:
    """One instant (``at``) inside the recorded window: outside it there is nothing to show, and
    showing the nearest snapshot instead would answer for another time than the one asked."""
    moment = parse_instant(raw, window[1])
    if not window[0] <= moment <= window[1]:
        raise TimeRangeError(
            f"{format_utc(moment)} is outside the recorded window "
            f"{format_utc(window[0])} – {format_utc(window[1])}"
        )
    return moment


def _named_instant(name: str, raw: str, now: float) -> float:
    try:
        return parse_instant(raw, now)
    except TimeRangeError as error:
        raise TimeRangeError(f"{name}: {error}") from None


def _fit(start: float, end: float, window: tuple[float, float]) -> tuple[float, float, str]:
    """Clip the range to the window and widen it to :data:`MIN_SPAN_S`, saying what changed: a range
    quietly different from the one typed would have the candidate misread what the page shows."""
    window_start, window_end = window
    notes = []
    if start < window_start or end > window_end:
        start, end = max(start, window_start), min(end, window_end)
        notes.append(f"clipped to the recording, {format_utc(window_start)} – {format_utc(window_end)}")
    if end - start < MIN_SPAN_S:
        centre = (start + end) / 2  # kept in the middle, unless that would cross an end of the window
        start = max(window_start, min(centre - MIN_SPAN_S / 2, window_end - MIN_SPAN_S))
        end = min(window_end, start + MIN_SPAN_S)
        notes.append(f"widened to {MIN_SPAN_S:g} s, the shortest range shown")
    return start, end, "; ".join(notes)


def format_utc(ts: float, seconds: bool = True) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
