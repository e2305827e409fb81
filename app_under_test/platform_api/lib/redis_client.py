"""Client of the shared Redis instance, with the service's telemetry conventions.

:func:`connect` builds a redis-py client for ``REDIS_URL``.  Every command gets a client span named
after it (``db.system`` ``redis``, the command and its key in ``db.statement``, values left out)
and an observation in ``db_client_operation_duration_seconds``, so Redis calls show in traces and
dashboards the way SQL statements do.  Connections are opened the process's way
(:mod:`platform_api.lib.plumbing`; TCP by default).
"""

from __future__ import annotations

from typing import Any

import redis
from opentelemetry.trace import SpanKind
from redis.backoff import NoBackoff
from redis.retry import Retry

from platform_api.lib import clock, metrics, plumbing, tracing
from platform_api.lib.config import Settings


def _statement(args: tuple[Any, ...]) -> str:
    """The command and its key; further arguments (values, options) as ``?``."""
    words = [str(args[0]).upper()]
    if len(args) > 1:
        words.append(str(args[1]))
    words.extend("?" * (len(args) - 2))
    return " ".join(words)


class InstrumentedRedis(redis.Redis):
    """``redis.Redis`` that traces and times every command it sends."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        operation = str(args[0]).upper()
        attributes = {"db.system": "redis", "db.statement": _statement(args)}
        with tracing.start_as_current_span(
            operation, kind=SpanKind.CLIENT, attributes=attributes, only_in_trace=True
        ):
            started = clock.monotonic()
            try:
                return super().execute_command(*args, **options)
            finally:
                metrics.DB_CLIENT_OPERATION_DURATION.labels("redis", operation).observe(
                    clock.monotonic() - started
                )


def connect(settings: Settings) -> InstrumentedRedis:
    """A client for ``settings.redis_url``: a connection pool shared by all threads, decoded replies.

    Commands are not retried: callers treat Redis as best effort and handle ``RedisError``.
    """
    pool = redis.ConnectionPool.from_url(
        settings.redis_url,
        connection_class=plumbing.current.redis_connection_class,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )
    return InstrumentedRedis(connection_pool=pool)
