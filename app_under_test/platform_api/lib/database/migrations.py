"""Schema migrations at start-up: Alembic's ``upgrade head`` on the service's own engine.

The revisions live in ``platform_api/migrations/versions``; Alembic records the applied one in
``alembic_version``, so running :func:`migrate` at every worker start only applies what is new.
``alembic.ini`` runs the same environment from a shell (new revisions, upgrades by hand).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import platform_api

SCRIPT_LOCATION = Path(platform_api.__file__).resolve().parent / "migrations"


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest revision, in one transaction where the database allows."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
