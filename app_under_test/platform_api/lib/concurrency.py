"""Executors for fanning work out in parallel.

Services never construct thread pools themselves; they ask for one here, so the process has one
place that decides how parallel work is run (threads in production, something else under a test
harness).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

ExecutorFactory = Callable[[int, str], Executor]


def _thread_pool(max_workers: int, name: str) -> Executor:
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)


_factory: ExecutorFactory = _thread_pool


def use_executor_factory(factory: ExecutorFactory) -> None:
    """Install the factory every later :func:`executor` call uses."""
    global _factory
    _factory = factory


def executor(max_workers: int, name: str) -> Executor:
    """A new executor running at most ``max_workers`` tasks at once; use it as a context manager."""
    return _factory(max(1, max_workers), name)
