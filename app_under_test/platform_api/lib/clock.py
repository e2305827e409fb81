"""The service's time source, as :mod:`platform_api.lib.plumbing` chooses it.

Everything that measures or schedules time (durations for metrics, transaction deadlines, cache
expiry, retry back-off) reads it from here instead of calling :mod:`time` directly, so the whole
process agrees on what time it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from platform_api.lib import plumbing


def now() -> float:
    """Seconds since the Unix epoch."""
    return plumbing.current.clock.time()


def monotonic() -> float:
    return plumbing.current.clock.monotonic()


def sleep(seconds: float) -> None:
    plumbing.current.clock.sleep(seconds)


def utcnow() -> datetime:
    return datetime.fromtimestamp(plumbing.current.clock.time(), UTC)


def time_ns() -> int:
    """:func:`now` in integer nanoseconds, as OpenTelemetry takes timestamps.

    Converted exactly, so ``time_ns() / 10**9`` gives back the clock's float reading.
    """
    numerator, denominator = plumbing.current.clock.time().as_integer_ratio()
    return (numerator * 1_000_000_000 + denominator // 2) // denominator
