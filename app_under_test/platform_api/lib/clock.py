"""The service's time source.

Everything that measures or schedules time (durations for metrics, transaction deadlines, cache
expiry, retry back-off) reads it from here instead of calling :mod:`time` directly, so a test
harness can substitute a controllable clock for the whole process in one place.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time from the operating system."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_clock: Clock = SystemClock()


def use(clock: Clock) -> None:
    """Install ``clock`` as the process-wide time source."""
    global _clock
    _clock = clock


def now() -> float:
    """Seconds since the Unix epoch."""
    return _clock.time()


def monotonic() -> float:
    return _clock.monotonic()


def sleep(seconds: float) -> None:
    _clock.sleep(seconds)


def utcnow() -> datetime:
    return datetime.fromtimestamp(_clock.time(), UTC)


def time_ns() -> int:
    """:func:`now` in integer nanoseconds, as OpenTelemetry takes timestamps.

    Converted exactly, so ``time_ns() / 10**9`` gives back the clock's float reading.
    """
    numerator, denominator = _clock.time().as_integer_ratio()
    return (numerator * 1_000_000_000 + denominator // 2) // denominator
