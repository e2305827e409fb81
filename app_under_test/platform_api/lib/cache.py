"""An in-process cache with per-entry expiry.

Used for small, hot, rarely-changing lookups (API keys, plan limits) where a short staleness window
is acceptable and saving a database round trip on every request matters.  Each process has its own
copy; entries expire after their TTL, measured with :mod:`platform_api.lib.clock`.  Lookups are
counted in ``cache_requests`` by cache name and result.
"""

from __future__ import annotations

import threading
from typing import Any

from platform_api.lib import clock, metrics


class TTLCache:
    """A thread-safe key/value cache whose entries expire ``ttl`` seconds after they were set.

    ``max_entries`` bounds memory: when full, the oldest entry is evicted first.
    """

    def __init__(self, name: str, ttl: float, max_entries: int = 10_000) -> None:
        self.name = name
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._hits = metrics.CACHE_REQUESTS.labels(name, "hit")
        self._misses = metrics.CACHE_REQUESTS.labels(name, "miss")

    def get(self, key: str) -> Any | None:
        """The cached value, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= clock.monotonic():
                del self._entries[key]
                entry = None
        if entry is None:
            self._misses.inc()
            return None
        self._hits.inc()
        return entry[1]

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires_at = clock.monotonic() + (self.ttl if ttl is None else ttl)
        with self._lock:
            self._store(key, expires_at, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount`` to an integer entry, starting from 0; the first increment sets the TTL."""
        now = clock.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                entry = (now + (self.ttl if ttl is None else ttl), 0)
            value = int(entry[1]) + amount
            self._store(key, entry[0], value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _store(self, key: str, expires_at: float, value: Any) -> None:
        """Insert or refresh ``key`` (moving it to the newest position); caller holds the lock."""
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (expires_at, value)
