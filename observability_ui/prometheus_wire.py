"""Prometheus's HTTP API on the wire: how its parameters are read and its answers written.

Clients of Prometheus (promtool, Grafana's data source, client libraries) send times as float
epoch seconds or RFC 3339, durations as ``15s``/``1m30s`` or float seconds, and read back values
as strings (``"+Inf"``, ``"NaN"``: JSON has no such numbers) and timestamps as epoch seconds with at
most three decimals.  Prometheus keeps every time as whole milliseconds, so the grid of a range
query is ``start + k * step`` in milliseconds; this module does the same, and writes numbers
exactly as Prometheus's jsonutil does, so a client comparing texts sees no difference.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

Millis = int

_DURATION = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: the widest time either form may name: years 0001 to 9999, as RFC 3339 can write them
LOWEST_MS, HIGHEST_MS = -62_135_596_800_000, 253_402_300_799_999

MAX_DURATION_S = 292 * 365 * 86_400  # Go's time.Duration ends near 292 years


class WireError(ValueError):
    """A parameter Prometheus would refuse as ``bad_data``; the message says why."""


def parse_time(raw: str) -> Millis:
    """A time as Prometheus's ``parseTime`` reads it: float epoch seconds (to the millisecond) or
    RFC 3339 (``2026-03-10T14:00:00.5Z``), as whole milliseconds."""
    text = raw.strip()
    if _FLOAT.fullmatch(text):
        if not abs(float(text)) <= HIGHEST_MS / 1000:  # before Decimal, which would overflow on 5e+900
            raise WireError(f"cannot parse {raw!r} to a valid timestamp: out of range")
        millis = int((Decimal(text) * 1000).to_integral_value(ROUND_HALF_UP))  # Go's math.Round
    else:
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise WireError(f"cannot parse {raw!r} to a valid timestamp") from None
        if moment.tzinfo is None or "T" not in text.upper():
            raise WireError(
                f"cannot parse {raw!r} to a valid timestamp: RFC 3339 needs a date, time and zone"
            )
        millis = round(moment.timestamp() * 1000)
    if not LOWEST_MS <= millis <= HIGHEST_MS:
        raise WireError(f"cannot parse {raw!r} to a valid timestamp: out of range")
    return millis


def parse_duration(raw: str) -> Millis:
    """A duration as Prometheus's ``parseDuration`` reads it: float seconds (``15``, ``0.5``) or a
    duration string (``15s``, ``1m30s``, ``250ms``), as whole milliseconds; never negative."""
    text = raw.strip()
    if _FLOAT.fullmatch(text):
        if not 0 <= float(text) <= MAX_DURATION_S:
            raise WireError(f"cannot parse {raw!r} to a valid duration: out of range")
        return int((Decimal(text) * 1000).to_integral_value(ROUND_HALF_UP))
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise WireError(f"cannot parse {raw!r} to a valid duration; use seconds (15) or 15s, 1m30s, 2h")
    millis = sum(int(part) * unit for part, unit in zip(match.groups(), _DURATION_MS, strict=True) if part)
    if millis > MAX_DURATION_S * 1000:
        raise WireError(f"cannot parse {raw!r} to a valid duration: out of range")
    return millis


def timestamp(millis: Millis) -> str:
    """Epoch seconds as Prometheus writes a sample's time: the integer, then ``.`` and three
    digits when there are milliseconds (``1435781451.781``, ``1435781451.780``, ``1435781451``)."""
    sign = "-" if millis < 0 else ""
    seconds, fraction = divmod(abs(millis), 1000)
    return f"{sign}{seconds}" + (f".{fraction:03d}" if fraction else "")


def value(number: float) -> str:
    """A sample value as Prometheus writes it, Go's shortest ``strconv.FormatFloat``: plain digits
    (``0.5``, ``12``, ``100000000000000000000``) but an exponent below 1e-6 or from 1e21 on
    (``1e-07``, ``1.5e+21``), and ``NaN``, ``+Inf``, ``-Inf``."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    magnitude = abs(number)
    shortest = repr(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return shortest  # Python's repr writes these exponents as Go does: 1e-07, 1.5e+21
    if "e" in shortest:
        return format(Decimal(shortest).normalize(), "f")
    return shortest.removesuffix(".0")
