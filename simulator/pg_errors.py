"""Errors the simulated PostgreSQL raises, shaped as psycopg raises the real server's.

Each is a subclass of the DBAPI error class SQLAlchemy maps PostgreSQL's SQLSTATE class to (the
sqlite3 module is the engine's DBAPI, so its classes are the ones SQLAlchemy wraps): class 55 and
40 errors become ``sqlalchemy.exc.OperationalError``, class 22 ``DataError``, as over psycopg.  The
message carries the DETAIL, HINT and CONTEXT lines as psycopg's ``str(error)`` does, with
``sqlstate`` and ``diag`` beside it; the classes are named and placed as psycopg's, because
SQLAlchemy's message names the class (``(psycopg.errors.LockNotAvailable) ...``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    """The part of psycopg's ``Error.diag`` the error's reader uses."""

    sqlstate: str
    message_primary: str
    message_detail: str | None = None
    message_hint: str | None = None
    context: str | None = None


class ServerError(sqlite3.Error):
    """An error the server sent: its message as psycopg renders it, and its diagnostic fields."""

    def __init__(self, diag: Diagnostic) -> None:
        lines = [diag.message_primary]
        for label, text in (("DETAIL", diag.message_detail), ("HINT", diag.message_hint)):
            if text is not None:
                lines.append(f"{label}:  {text}")
        if diag.context is not None:
            lines.append(f"CONTEXT:  {diag.context}")
        super().__init__("\n".join(lines))
        self.diag = diag
        self.sqlstate = diag.sqlstate


class LockNotAvailable(ServerError, sqlite3.OperationalError):
    """SQLSTATE 55P03: lock_timeout expired, or NOWAIT found the row locked."""

    __module__ = "psycopg.errors"


class DeadlockDetected(ServerError, sqlite3.OperationalError):
    """SQLSTATE 40P01: this transaction was chosen to break a cycle of waits."""

    __module__ = "psycopg.errors"


class InvalidParameterValue(ServerError, sqlite3.DataError):
    """SQLSTATE 22023: a setting given a value it does not take."""

    __module__ = "psycopg.errors"
