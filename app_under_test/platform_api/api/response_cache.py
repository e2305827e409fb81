"""Rendered bodies of report endpoints, kept for the next caller who asks for the same report.

Dashboards refresh their report panels every few seconds, and a report costs several aggregate
queries and a serialisation pass.  A report covers a closed ``[since, until)`` range of imported
records, and imported records never change, so a rendered body stays correct for as long as the
process lives and needs no expiry.  Each process has its own copy; lookups are counted in
``cache_requests`` by cache name and result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from platform_api.lib import metrics

Json = dict[str, Any]


class ResponseCache:
    """Rendered JSON bodies by request key (tenant and report parameters)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._bodies: dict[Hashable, Json] = {}
        self._lock = threading.Lock()
        self._hits = metrics.CACHE_REQUESTS.labels(name, "hit")
        self._misses = metrics.CACHE_REQUESTS.labels(name, "miss")

    def get_or_render(self, key: Hashable, render: Callable[[], Json]) -> Json:
        """The body stored under ``key``, rendering and storing it on first request."""
        with self._lock:
            body = self._bodies.get(key)
        if body is not None:
            self._hits.inc()
            return body
        self._misses.inc()
        body = render()
        with self._lock:
            self._bodies[key] = body
        return body
