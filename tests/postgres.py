"""A throwaway PostgreSQL database per test, on the real server at 127.0.0.1:5432.

`scripts/install-test-tools.sh` installs and starts one where the machine has none; where it still
cannot (no root, no apt), the tests that need it skip and say why.  ``OBSIM_TEST_POSTGRES`` points
at another server (a libpq URL to its maintenance database).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

ADMIN_URL = os.environ.get("OBSIM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {error}".strip())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3) of a new, empty database, dropped after the test."""
    name = f"obsim_test_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
