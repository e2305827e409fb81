"""Connection pool with the measurements SQLAlchemy's pool events cannot give.

SQLAlchemy emits events for checkout and checkin but none while a caller waits for a free
connection or gives up waiting.  This QueuePool records both: the wait time histogram, the number of
callers currently waiting and the number of checkout timeouts, under OpenTelemetry's
``db.client.connection.*`` names.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from platform_api.lib import clock, metrics, tracing


class ObservedQueuePool(QueuePool):
    """QueuePool that also measures waiting; its ``logging_name`` names it in metrics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_name = kwargs.get("logging_name") or "default"
        self.waiting = 0
        self._wait_time = metrics.POOL_WAIT_TIME.labels(self.pool_name)
        self._timeouts = metrics.POOL_TIMEOUTS.labels(self.pool_name)

    def _do_get(self) -> ConnectionPoolEntry:
        started = clock.monotonic()
        self.waiting += 1
        with tracing.start_as_current_span(
            "db.connection.acquire",
            attributes={"db.client.connection.pool.name": self.pool_name},
            only_in_trace=True,
        ) as span:
            try:
                return super()._do_get()
            except exc.TimeoutError as error:
                self._timeouts.inc()
                tracing.record_error(span, error)
                raise
            finally:
                self.waiting -= 1
                waited = clock.monotonic() - started
                self._wait_time.observe(waited)
                span.set_attribute("db.client.connection.wait_time_ms", round(waited * 1000, 3))
