"""Versioned schema migrations.

Migrations run in order at deploy time (``wsgi`` start-up, or a one-off ``migrate`` call); each
applied version is recorded in ``schema_migrations`` so running :func:`migrate` again only applies
what is new.  Each migration runs in its own transaction together with its bookkeeping row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, DateTime, Engine, Integer, MetaData, String, Table, insert, select

from platform_api import models
from platform_api.lib import clock

logger = logging.getLogger(__name__)

_bookkeeping = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _bookkeeping,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _initial_schema(connection: Connection) -> None:
    models.Base.metadata.create_all(connection)


MIGRATIONS: tuple[Migration, ...] = (Migration(1, "initial schema", _initial_schema),)


def migrate(engine: Engine) -> int:
    """Apply every pending migration; returns the schema version afterwards."""
    _bookkeeping.create_all(engine)
    with engine.connect() as connection:
        applied = set(connection.scalars(select(schema_migrations.c.version)))
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        with engine.begin() as connection:
            migration.apply(connection)
            connection.execute(
                insert(schema_migrations).values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=clock.utcnow(),
                )
            )
        applied.add(migration.version)
        logger.info(
            "applied schema migration",
            extra={"migration.version": migration.version, "migration.description": migration.description},
        )
    return max(applied, default=0)
