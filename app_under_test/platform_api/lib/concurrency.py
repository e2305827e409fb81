"""Executors for fanning work out in parallel.

Services never construct thread pools themselves; they ask for one here, so the process has one
place that decides how parallel work is run (:mod:`platform_api.lib.plumbing`; thread pools by
default).
"""

from __future__ import annotations

from concurrent.futures import Executor

from platform_api.lib import plumbing


def executor(max_workers: int, name: str) -> Executor:
    """A new executor running at most ``max_workers`` tasks at once; use it as a context manager."""
    return plumbing.current.executor_factory(max(1, max_workers), name)
