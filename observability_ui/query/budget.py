"""The time budget of one request's queries: past it, SQLite statements and the engines' loops stop.

A candidate's query must never hold the server: the platform serves every candidate of an interview
and the interviewer's console from one process.  Each request gets a :class:`QueryBudget` of wall
time (:data:`QUERY_BUDGET_S`, the app's ``OBSIM_QUERY_BUDGET_S`` setting), made active for the
request's thread by :func:`activate`.  Then

- its SQLite connection's progress handler (:meth:`QueryBudget.watch`) aborts the running statement
  once the budget is spent: SQLite raises ``OperationalError`` with ``SQLITE_INTERRUPT``, which
  :func:`cancellation` turns into the candidate's answer;
- the engines' Python loops (the PromQL evaluator's per-node and per-series work) call :func:`check`,
  which raises :class:`QueryCancelled` once it is spent.

Either way the candidate gets a 503 saying what happened and what to do.  Outside a request (the
scenario checks, the metric preload, tests of the engines) no budget is active and nothing is cut.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar, Token
from typing import TypeVar

from observability_ui.ui_error import UiError

QUERY_BUDGET_S = 10.0  # wall time a request's queries may take before they are cancelled
# SQLite virtual machine instructions between two looks at the clock: a few milliseconds of SQL,
# so a statement stops soon after the deadline without the callback costing anything noticeable.
PROGRESS_EVERY = 100_000
CHECK_EVERY = 1024  # items between two looks at the clock in a tight Python loop (:func:`checked`)

T = TypeVar("T")

_active: ContextVar[QueryBudget | None] = ContextVar("obsim_query_budget", default=None)


class QueryCancelled(UiError):
    """The request's queries ran past the budget: 503, the server is fine but will not do this."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the query ran longer than {seconds:g} s; narrow the range or simplify the query", status=503
        )


class QueryBudget:
    """A wall-time deadline, set when the request's queries start."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.deadline

    def check(self) -> None:
        if self.spent:
            raise QueryCancelled(self.seconds)

    def watch(self, connection: sqlite3.Connection) -> None:
        """Abort any statement ``connection`` runs once the budget is spent (a non-zero return
        from the progress handler interrupts SQLite)."""
        connection.set_progress_handler(lambda: int(self.spent), PROGRESS_EVERY)


def activate(budget: QueryBudget) -> Token[QueryBudget | None]:
    """Make ``budget`` the one :func:`check` enforces in this thread; undo with :func:`deactivate`
    (threads are reused from request to request)."""
    return _active.set(budget)


def deactivate(token: Token[QueryBudget | None]) -> None:
    _active.reset(token)


def check() -> None:
    """Raise :class:`QueryCancelled` when the active budget is spent; nothing without one."""
    budget = _active.get()
    if budget is not None:
        budget.check()


def checked(items: Iterable[T], every: int = 1) -> Iterator[T]:
    """``items``, looking at the active budget before every ``every``-th one: for loops whose
    iterations are many, or each costly (one per series, over every step)."""
    budget = _active.get()
    for index, item in enumerate(items):
        if budget is not None and index % every == 0:
            budget.check()
        yield item


def cancellation(error: sqlite3.OperationalError) -> QueryCancelled | None:
    """The candidate's answer for a statement the progress handler interrupted, or None for any
    other SQLite error (a bug, not the budget)."""
    budget = _active.get()
    if budget is None or error.sqlite_errorcode != sqlite3.SQLITE_INTERRUPT:
        return None
    return QueryCancelled(budget.seconds)
