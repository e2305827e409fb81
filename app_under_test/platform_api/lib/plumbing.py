"""The process's plumbing: its time source, how it runs parallel work, how its clients connect.

Everything that reads the time (durations for metrics, transaction deadlines, cache expiry, retry
back-off), fans work out to threads, or opens a connection to an HTTP service or Redis takes these
from here, so the process decides each of them in one place.  Production runs on the defaults (the
system clock, thread pools, TCP).  Whoever starts the process may choose others once, at start-up
and before the app is built (:func:`configure`): an HTTP transport that goes through an egress
proxy, say, or Redis over a unix socket.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import httpx
from redis.connection import Connection


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


ExecutorFactory = Callable[[int, str], Executor]


def thread_pool(max_workers: int, name: str) -> Executor:
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)


@dataclass(frozen=True)
class Plumbing:
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    executor_factory: ExecutorFactory = thread_pool
    http_transport: httpx.BaseTransport | None = None  # None: httpx's own, over TCP
    redis_connection_class: type[Connection] = Connection


current = Plumbing()


def configure(**choices: object) -> Plumbing:
    """Replace the named parts (``clock``, ``executor_factory``, ``http_transport``,
    ``redis_connection_class``); the others stay as they are.  Returns the new plumbing."""
    global current
    current = dataclasses.replace(current, **choices)  # type: ignore[arg-type]
    return current


def reset() -> Plumbing:
    """Back to the defaults."""
    global current
    current = Plumbing()
    return current
