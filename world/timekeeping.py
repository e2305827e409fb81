"""What the world's models need of an engine's time, whichever engine runs them.

The virtual-time engine's :class:`simulator.kernel.Kernel` has all of it; live mode passes the wall
clock (or its compressed scenario timeline).  Models that only stamp what they record need a
:class:`Clock`; a model that drives its own activity (the load's arrivals) needs a
:class:`Scheduler` to wait and to start concurrent work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Clock(Protocol):
    """The engine's current time, in seconds since the epoch."""

    now: float


class Scheduler(Clock, Protocol):
    """An engine that can make the caller wait and start concurrent tasks."""

    def sleep(self, seconds: float) -> None: ...

    def spawn(self, fn: Callable[..., Any], *args: Any, name: str = ...) -> Any: ...
