"""Explicit write transactions.

Multi-statement writes go through :func:`transaction`, which gives the body its own session,
commits when the body finishes, and measures how long the transaction stayed open
(``db_transaction_duration_seconds``).  A body that runs past its ``timeout`` is rolled back instead
of committed, so a slow request cannot commit stale work.

Open transactions are registered with the database client (``db.open_transactions``);
:func:`open_transactions` lets the monitoring job report the ones that stay open for long, which
are the ones holding locks and pool connections.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from platform_api.lib import clock, metrics
from platform_api.lib.database.client import db
from platform_api.lib.errors import AppError


class TransactionTimeout(AppError):
    """The transaction body ran longer than its timeout; nothing was committed."""

    status_code = 503

    def __init__(self, name: str, elapsed: float, timeout: float) -> None:
        super().__init__(f"transaction {name} took {elapsed:.1f}s (limit {timeout:.1f}s)")
        self.name = name


@dataclass
class OpenTransaction:
    id: int
    name: str
    started_at: datetime
    session: Session
    started_monotonic: float = field(repr=False)


_lock = threading.Lock()
_ids = itertools.count(1)


def open_transactions() -> list[OpenTransaction]:
    """A snapshot of the transactions currently open in this process, oldest first."""
    with _lock:
        return sorted(db.open_transactions.values(), key=lambda record: record.id)


@contextmanager
def transaction(name: str, timeout: float | None = None) -> Iterator[Session]:
    """A session whose work is committed when the ``with`` body completes.

    Database errors and application errors raised by the body roll the transaction back and
    propagate; so does exceeding ``timeout`` seconds.
    """
    record = _register(name, db.session())
    session = record.session
    try:
        yield session
        _check_deadline(record, timeout)
        session.commit()
    except (SQLAlchemyError, AppError):
        session.rollback()
        _finish(record)
        raise
    _finish(record)


def _register(name: str, session: Session) -> OpenTransaction:
    with _lock:
        record = OpenTransaction(
            id=next(_ids),
            name=name,
            started_at=clock.utcnow(),
            session=session,
            started_monotonic=clock.monotonic(),
        )
        db.open_transactions[record.id] = record
    return record


def _check_deadline(record: OpenTransaction, timeout: float | None) -> None:
    elapsed = clock.monotonic() - record.started_monotonic
    if timeout is not None and elapsed > timeout:
        raise TransactionTimeout(record.name, elapsed, timeout)


def _finish(record: OpenTransaction) -> None:
    with _lock:
        db.open_transactions.pop(record.id, None)
    record.session.close()
    metrics.TRANSACTION_DURATION.labels(record.name).observe(clock.monotonic() - record.started_monotonic)
