"""The service's Alembic migrations build exactly the schema its models declare, on SQLite and on
PostgreSQL, and applying them again at every worker start changes nothing."""

from __future__ import annotations

import logging
from itertools import pairwise
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from platform_api import models
from platform_api.lib.database.migrations import SCRIPT_LOCATION, migrate

SCRIPTS = ScriptDirectory(str(SCRIPT_LOCATION))
REVISIONS = list(reversed(list(SCRIPTS.walk_revisions())))  # oldest first


def _schema_differences(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), models.Base.metadata)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'platform.db'}"


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "postgres_url"])
def test_the_migrated_schema_is_the_models_schema(url_fixture: str, request: pytest.FixtureRequest) -> None:
    engine = create_engine(request.getfixturevalue(url_fixture))
    try:
        migrate(engine)
        assert _schema_differences(engine) == []
        assert set(inspect(engine).get_table_names()) == {*models.Base.metadata.tables, "alembic_version"}
        assert _current_revision(engine) == SCRIPTS.get_current_head()
        # The comparison does see what a revision would have missed.
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_users_tenant_id"))
        assert [difference[0] for difference in _schema_differences(engine)] == ["add_index"]
    finally:
        engine.dispose()


def test_the_revisions_are_one_line_from_the_initial_schema() -> None:
    """One head, and every revision follows the one before: no branch for a deploy to leave half
    applied."""
    assert SCRIPTS.get_heads() == [REVISIONS[-1].revision]
    assert REVISIONS[0].revision == "0001" and REVISIONS[0].down_revision is None
    assert all(r.down_revision == older.revision for older, r in pairwise(REVISIONS))


def test_migrating_again_applies_nothing(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Each revision is applied once, and logged once; the next worker's start finds nothing to do."""
    engine = create_engine(sqlite_url)
    try:
        applied = []
        for _ in range(2):
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="platform_api.migrations"):
                migrate(engine)
            applied.append(
                [
                    (r.getMessage(), getattr(r, "migration.revision"), getattr(r, "migration.description"))
                    for r in caplog.records
                    if r.name == "platform_api.migrations"
                ]
            )
        assert applied[0] == [("applied schema migration", r.revision, r.doc) for r in REVISIONS]
        assert applied[0][0][2] == "initial schema"
        assert applied[1] == []
        assert _current_revision(engine) == REVISIONS[-1].revision
    finally:
        engine.dispose()
