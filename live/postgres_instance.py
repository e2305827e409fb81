"""The real PostgreSQL server's side of live mode: capacity check, pg_stat_activity, its metrics.

Everything here reads PostgreSQL's own views over a connection of its own (never one from the
application's pool), so what it reports is what the server sees: a leaked session is a real backend
"idle in transaction".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import psycopg
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import make_url

from world.postgres_metrics import pg_activity_families

ADMIN_HEADROOM = 2  # this module's own connection and one for a human with psql


class CapacityError(Exception):
    """The server cannot hold the application's connection pool."""


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def check_capacity(url: str, pool_connections: int) -> None:
    """Refuse a pool the server's ``max_connections`` cannot hold beside what is already connected."""
    with psycopg.connect(libpq_url(url), connect_timeout=5, autocommit=True) as connection:
        maximum, reserved, in_use = connection.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()  # type: ignore[misc]
    free = maximum - reserved - in_use
    needed = pool_connections + ADMIN_HEADROOM
    if needed > free:
        raise CapacityError(
            f"PostgreSQL allows max_connections={maximum} ({reserved} reserved for superusers, "
            f"{in_use} in use): {free} free, but a pool of {pool_connections} connections plus "
            f"{ADMIN_HEADROOM} for monitoring needs {needed}. Lower --pool-size or raise max_connections."
        )


class PgActivity:
    """pg_stat_activity of the application's database, read on a dedicated connection."""

    def __init__(self, url: str) -> None:
        self._url = libpq_url(url)
        self.database = make_url(url).database or ""
        self._connection: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(
                    self._url, connect_timeout=5, autocommit=True, application_name="obsim-live-monitor"
                )
            return self._connection.execute(sql).fetchall()

    def sessions(self) -> list[tuple[Any, ...]]:
        """Client backends of this database, in the column order of the dataset's ``db_sessions``."""
        now = round(time.time(), 3)
        rows = self._query(
            "SELECT pid, datname, usename, application_name, host(client_addr),"
            " extract(epoch FROM backend_start), extract(epoch FROM xact_start),"
            " extract(epoch FROM query_start), extract(epoch FROM state_change),"
            " state, wait_event_type, wait_event, query, nullif(pg_blocking_pids(pid)::text, '{}')"
            " FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend'"
            " AND pid <> pg_backend_pid() ORDER BY pid"
        )
        return [(now, *(float(v) if isinstance(v, Decimal) else v for v in row)) for row in rows]

    def max_connections(self) -> int:
        return int(self._query("SELECT current_setting('max_connections')")[0][0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()


class PgActivityCollector(Collector):
    """postgres_exporter's pg_stat_activity and max_connections metrics, from the server itself."""

    def __init__(self, activity: PgActivity) -> None:
        self.activity = activity

    def collect(self) -> Iterable[Metric]:
        sessions = ((row[10], row[7]) for row in self.activity.sessions())
        return pg_activity_families(
            self.activity.database, sessions, time.time(), self.activity.max_connections()
        )
