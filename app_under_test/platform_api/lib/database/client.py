"""The process's database: one engine, one connection pool, one session factory, and the explicit
transactions open on them.

Configured once at start-up from :class:`~platform_api.lib.config.Settings`; everything else uses
:data:`db`.  Pool sizing lives in config (``DB_POOL_SIZE``, ``DB_POOL_TIMEOUT``) because it has to
match the database server's ``max_connections`` across all app hosts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from platform_api.lib.config import Settings
from platform_api.lib.database import instrumentation
from platform_api.lib.database.pool import ObservedQueuePool


class Database:
    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        #: Transactions open on this engine, by id (see :mod:`~platform_api.lib.database.transactions`).
        self.open_transactions: dict[int, Any] = {}

    def configure(self, settings: Settings, **engine_options: Any) -> Engine:
        """Create the engine; ``engine_options`` override the defaults (a ``creator``, say).

        A new engine has no transaction open: the registry starts empty with it."""
        options: dict[str, Any] = {
            "poolclass": ObservedQueuePool,
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout,
            "pool_pre_ping": False,
            "pool_logging_name": settings.service_name,
            "connect_args": {"application_name": settings.service_name},
        }
        options.update(engine_options)
        engine = create_engine(settings.database_url, **options)
        instrumentation.instrument(engine)
        self._engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self.open_transactions = {}
        return engine

    @property
    def configured(self) -> bool:
        return self._engine is not None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("database not configured: call db.configure(settings) at start-up")
        return self._engine

    def session(self) -> Session:
        """A new ORM session; the caller closes it (use it as a context manager)."""
        if self._sessions is None:
            raise RuntimeError("database not configured: call db.configure(settings) at start-up")
        return self._sessions()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._sessions = None


db = Database()
