"""The service's Alembic migrations build exactly the schema its models declare, on SQLite and on
PostgreSQL, in every release a scenario runs (its fix, the release its deploy replaces); and applying
them again at every worker start changes nothing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from obsim import scenario as scenarios
from platform_api import models
from platform_api.lib.database.migrations import SCRIPT_LOCATION, migrate
from world import release

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


# Run in a process of its own: importing a release's package replaces the checkout's.
_MIGRATE_A_RELEASE = """
import json, sys
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from platform_api import models
from platform_api.lib.database.migrations import migrate
engine = create_engine("sqlite://")
migrate(engine)
with engine.connect() as connection:
    context = MigrationContext.configure(connection)
    differences = compare_metadata(context, models.Base.metadata)
    print(json.dumps([context.get_current_revision(), [repr(d) for d in differences]]))
"""


def _patches() -> list[tuple[str, bytes]]:
    """Every scenario's patch that touches the models or the migrations."""
    patches = []
    for loaded in scenarios.load_all():
        fix, previous = scenarios.fix_patch(loaded), scenarios.previous_release(loaded)
        if fix is not None:
            patches.append((f"{loaded.id}:fix", fix.read_bytes()))
        if previous is not None:
            patches.append((f"{loaded.id}:previous-release", previous))
    return [(name, patch) for name, patch in patches if b"/models/" in patch or b"/migrations/" in patch]


@pytest.mark.parametrize(("name", "patch"), _patches(), ids=[name for name, _ in _patches()])
def test_every_release_migrates_to_its_models_schema(name: str, patch: bytes, tmp_path: Path) -> None:
    """A release that changes a model brings the revision for it (queue-backlog's fix adds a column)."""
    root = release.apply_patch(patch, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", _MIGRATE_A_RELEASE],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    revision, differences = json.loads(result.stdout)
    assert [revision] == ScriptDirectory(str(root / "platform_api" / "migrations")).get_heads()
    assert differences == []
