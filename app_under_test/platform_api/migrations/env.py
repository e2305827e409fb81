"""Alembic's environment: runs the revisions in ``versions/`` against the service's database.

A worker applies them when it starts, on its own engine
(:func:`platform_api.lib.database.migrations.migrate` hands over a connection in
``config.attributes``); ``alembic`` from a shell connects to ``DATABASE_URL`` instead.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationInfo
from sqlalchemy import Connection, create_engine, pool

from platform_api import models
from platform_api.lib.config import load_settings
from platform_api.models.base import UTCDateTime

logger = logging.getLogger("platform_api.migrations")
config = context.config


def log_step(*, step: MigrationInfo, **_: Any) -> None:
    """One line per revision applied or reverted, in the service's own log."""
    logger.info(
        "applied schema migration" if step.is_upgrade else "reverted schema migration",
        extra={"migration.revision": step.up_revision_id, "migration.description": step.up_revision.doc},
    )


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Autogenerate writes :class:`UTCDateTime` as the column type it stores, so that revisions
    never import the models (which keep changing after a revision is written)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=models.Base.metadata,
        render_item=render_item,
        on_version_apply=log_step,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    engine = create_engine(load_settings().database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)
