"""The PromQL functions that change each value on its own: math (``sqrt``, ``ln``, ``round``, the
trigonometric ones, ...) and the calendar functions (``hour``, ``day_of_week``, ...), as Prometheus 3's
simpleFloatFunc and dateWrapper (promql/functions.go) compute them.

Math works on a whole row of values at once with numpy, whose IEEE results are Go's: ``sqrt(-1)`` and
``ln(-1)`` are NaN, ``ln(0)`` is -Inf, ``exp(1000)`` is +Inf.  Calendar functions read a value as
epoch seconds (truncated to a whole second) in UTC.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

Array = np.ndarray


def sign(values: Array) -> Array:
    """Go's sgn: -1 below zero, 1 above, the value itself (0, -0 or NaN) otherwise."""
    return np.where(values < 0, -1.0, np.where(values > 0, 1.0, values))


MATH: dict[str, Callable[[Array], Array]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sgn": sign,
    "acos": np.arccos,
    "acosh": np.arccosh,
    "asin": np.arcsin,
    "asinh": np.arcsinh,
    "atan": np.arctan,
    "atanh": np.arctanh,
    "cos": np.cos,
    "cosh": np.cosh,
    "sin": np.sin,
    "sinh": np.sinh,
    "tan": np.tan,
    "tanh": np.tanh,
    "deg": lambda values: values * 180 / math.pi,
    "rad": lambda values: values * math.pi / 180,
}


def round_to(to_nearest: float | Array) -> Callable[[Array], Array]:
    """round(v, to_nearest): the nearest multiple (of each step's ``to_nearest``), ties rounded up;
    Prometheus divides by the inverse of ``to_nearest``, which loses less precision than multiplying
    by it (the inverse of 0 is +Inf, as in Go)."""
    with np.errstate(divide="ignore"):
        inverse = np.divide(1.0, to_nearest)
    return lambda values: np.floor(values * inverse + 0.5) / inverse


CALENDAR: dict[str, Callable[[datetime], int]] = {
    "year": lambda moment: moment.year,
    "month": lambda moment: moment.month,
    "day_of_month": lambda moment: moment.day,
    "day_of_year": lambda moment: moment.timetuple().tm_yday,
    "day_of_week": lambda moment: moment.isoweekday() % 7,  # Go's Weekday: Sunday is 0
    "days_in_month": lambda moment: calendar.monthrange(moment.year, moment.month)[1],
    "hour": lambda moment: moment.hour,
    "minute": lambda moment: moment.minute,
}


def calendar_part(name: str) -> Callable[[Array], Array]:
    """A calendar function over epoch seconds.  A value that is no time (NaN, ±Inf, beyond year 9999)
    gives NaN: Prometheus converts it with Go's int64(), whose result there depends on the CPU."""
    part = CALENDAR[name]

    def one(value: float) -> float:
        if not math.isfinite(value):
            return math.nan
        try:
            return float(part(datetime.fromtimestamp(int(value), tz=UTC)))
        except (OverflowError, ValueError, OSError):
            return math.nan

    return lambda values: np.array([one(value) for value in values.tolist()], dtype=np.float64)
