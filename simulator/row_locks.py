"""PostgreSQL's row-level locks for the simulated server, with their waits in virtual time.

SQLite underneath autocommits every statement, so nothing there ever waits for another session.
PostgreSQL does: ``SELECT ... FOR UPDATE`` (``FOR NO KEY UPDATE``, ``FOR SHARE``, ``FOR KEY
SHARE``), ``UPDATE`` and ``DELETE`` lock the rows they touch until the transaction ends, and a
conflicting request waits.  :class:`RowLocks` is that lock table, keyed by ``(table, rowid)``:

* **Modes and conflicts** as PostgreSQL documents them ("Conflicting Row-Level Locks"): each mode
  conflicts with a superset of what the weaker one conflicts with, so the modes are ordered and a
  transaction holding a stronger mode already has every weaker one.  ``UPDATE`` takes ``FOR NO KEY
  UPDATE`` (the service never rewrites a key column), ``DELETE`` takes ``FOR UPDATE``.
* **Waits.**  A request that conflicts with a holder waits; one compatible with every holder is
  granted at once, even past queued requests, as PostgreSQL does (share lockers can starve a
  queued writer).  Waiters queue first-in-first-out per row; a transaction upgrading a lock it holds
  goes ahead of the queue.  Ending a transaction -- commit, rollback, an error that aborts it, a
  closed connection -- releases its rows and grants queued requests in order while they are
  compatible with the holders.
* **What PostgreSQL shows of a wait.**  The first waiter holds the row's *tuple* lock and waits for
  a holder's transaction id (``wait_event = 'transactionid'``), one holder at a time; a request
  queued behind a conflicting waiter waits for that tuple lock (``'tuple'``).
  :meth:`RowLocks.blocking_pids` answers ``pg_blocking_pids`` along those edges and
  :meth:`RowLocks.snapshot` lists ``pg_locks``.  The deadlock check follows every conflicting
  holder, not only the one waited for now, so no cycle waits for a holder's turn to be seen.
* **lock_timeout and deadlocks.**  A wait longer than the session's ``lock_timeout`` fails with
  SQLSTATE 55P03; a waiter still waiting after ``deadlock_timeout`` runs the deadlock check, and if
  its waits-for edges lead back to itself it is the one victim (40P01, with PostgreSQL's DETAIL).

Not modelled: row locks of ``SKIP LOCKED``, of tables other than the first in a locking SELECT's
FROM (PostgreSQL locks every table's rows unless ``OF`` narrows it), re-checking a row's WHERE
after the wait, index locks, and the locks statements that lock no row take (a plain SELECT's
AccessShareLock, every transaction's virtualxid).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from simulator.kernel import TIMED_OUT, Kernel, SimulationError, Wait
from simulator.pg_errors import DeadlockDetected, Diagnostic, LockNotAvailable

# Object ids as a fresh PostgreSQL cluster gives them: the first user object is 16384.
DATABASE_OID = 16384
_FIRST_RELATION_OID = 16385
_FIRST_XID = 7431
# Where a rowid's tuple lands on the heap (block, offset): about this many rows fit an 8 kB page.
_TUPLES_PER_PAGE = 60
# postgres_exporter's pg_locks_count reports every one of these modes, zero included.
EXPORTED_LOCK_MODES = (
    "accesssharelock",
    "rowsharelock",
    "rowexclusivelock",
    "shareupdateexclusivelock",
    "sharelock",
    "sharerowexclusivelock",
    "exclusivelock",
    "accessexclusivelock",
    "sireadlock",
)


class RowLockMode(IntEnum):
    """Row-level lock strengths, weakest first."""

    KEY_SHARE = 0
    SHARE = 1
    NO_KEY_UPDATE = 2
    UPDATE = 3

    @property
    def tuple_lock(self) -> str:
        """The heavyweight lock mode on the tuple a waiter of this strength takes (pg_locks.mode)."""
        return _TUPLE_LOCK[self]

    def conflicts(self, other: RowLockMode) -> bool:
        return other in _CONFLICTS[self]


_CONFLICTS = {
    RowLockMode.KEY_SHARE: frozenset({RowLockMode.UPDATE}),
    RowLockMode.SHARE: frozenset({RowLockMode.NO_KEY_UPDATE, RowLockMode.UPDATE}),
    RowLockMode.NO_KEY_UPDATE: frozenset({RowLockMode.SHARE, RowLockMode.NO_KEY_UPDATE, RowLockMode.UPDATE}),
    RowLockMode.UPDATE: frozenset(RowLockMode),
}
_TUPLE_LOCK = {
    RowLockMode.KEY_SHARE: "AccessShareLock",
    RowLockMode.SHARE: "ShareLock",
    RowLockMode.NO_KEY_UPDATE: "ExclusiveLock",
    RowLockMode.UPDATE: "AccessExclusiveLock",
}


class Access(NamedTuple):
    """What a statement does to the rows it locks: their lock mode, the lock it takes on their
    table, and the verb of PostgreSQL's error CONTEXT line (``while updating tuple ...``)."""

    mode: RowLockMode
    relation_lock: str
    verb: str


def select_access(mode: RowLockMode) -> Access:
    return Access(mode, "RowShareLock", "locking")


UPDATE_ACCESS = Access(RowLockMode.NO_KEY_UPDATE, "RowExclusiveLock", "updating")
DELETE_ACCESS = Access(RowLockMode.UPDATE, "RowExclusiveLock", "deleting")


class RowKey(NamedTuple):
    table: str
    rowid: int

    @property
    def tid(self) -> tuple[int, int]:
        """(block, offset) of the row on its table's heap, as ``ctid`` and pg_locks show it."""
        block, offset = divmod(self.rowid - 1, _TUPLES_PER_PAGE)
        return block, offset + 1


class LockRow(NamedTuple):
    """One row of ``pg_locks``."""

    locktype: str  # 'relation', 'tuple' or 'transactionid'
    database: int | None
    relation: str | None
    page: int | None
    tuple: int | None
    transactionid: int | None
    pid: int
    mode: str
    granted: bool
    waitstart: float | None


@dataclass(eq=False)
class _Request:
    pid: int
    key: RowKey
    access: Access
    since: float
    wait: Wait


@dataclass
class _Row:
    holders: dict[int, RowLockMode] = field(default_factory=dict)
    queue: deque[_Request] = field(default_factory=deque)


@dataclass
class _Transaction:
    xid: int
    rows: dict[RowKey, None] = field(default_factory=dict)  # insertion-ordered: releases in order
    relation_locks: dict[tuple[str, str], None] = field(default_factory=dict)  # (table, mode)
    waiting: _Request | None = None


class _Deadlock(NamedTuple):
    """Sent to a waiter chosen as a deadlock's victim, with the DETAIL of its error."""

    detail: str


class RowLocks:
    """The server's row lock table; waits block the calling task on ``kernel``."""

    def __init__(self, kernel: Kernel, deadlock_timeout_s: float = 1.0) -> None:
        self.kernel = kernel
        self.deadlock_timeout_s = deadlock_timeout_s
        self._rows: dict[RowKey, _Row] = {}
        self._transactions: dict[int, _Transaction] = {}
        self._relations: dict[str, int] = {}
        self._next_xid = _FIRST_XID

    # -- taking and releasing -------------------------------------------------------------------
    def acquire(
        self, pid: int, key: RowKey, access: Access, lock_timeout_s: float = 0.0, nowait: bool = False
    ) -> None:
        """Lock ``key`` for the transaction of backend ``pid``, waiting in line if it must.

        ``lock_timeout_s`` of 0 waits without limit, as PostgreSQL's default.  Raises
        :class:`LockNotAvailable` or :class:`DeadlockDetected`; the caller then aborts the
        transaction (:meth:`release`), as PostgreSQL's error does.
        """
        transaction = self._transaction(pid)
        transaction.relation_locks[key.table, access.relation_lock] = None
        row = self._rows.setdefault(key, _Row())
        held = row.holders.get(pid)
        mode = access.mode
        if held is not None and held >= mode:
            return
        if not self._conflicting_holders(row, pid, mode):  # even past queued requests, as PostgreSQL
            self._grant(row, pid, key, mode)
            return
        if nowait:
            raise LockNotAvailable(
                Diagnostic("55P03", f'could not obtain lock on row in relation "{key.table}"')
            )
        if not self.kernel.in_task():
            raise SimulationError(f"a lock wait on {key} outside a task")
        request = _Request(pid, key, access, self.kernel.now, Wait(self.kernel))
        if held is not None:
            row.queue.appendleft(request)
        else:
            row.queue.append(request)
        transaction.waiting = request
        self.kernel.call_later(self.deadlock_timeout_s, lambda: self._check_deadlock(request))
        outcome = self.kernel.wait(request.wait, lock_timeout_s if lock_timeout_s > 0 else None)
        context = f'while {access.verb} tuple ({key.tid[0]},{key.tid[1]}) in relation "{key.table}"'
        if outcome is TIMED_OUT:
            self._withdraw(request)
            raise LockNotAvailable(
                Diagnostic("55P03", "canceling statement due to lock timeout", context=context)
            )
        if isinstance(outcome, _Deadlock):
            raise DeadlockDetected(
                Diagnostic(
                    "40P01",
                    "deadlock detected",
                    message_detail=outcome.detail,
                    message_hint="See server log for query details.",
                    context=context,
                )
            )

    def release(self, pid: int) -> None:
        """The transaction of ``pid`` ended (or its backend did): its rows go to the next in line."""
        transaction = self._transactions.pop(pid, None)
        if transaction is None:
            return
        if transaction.waiting is not None:
            self._withdraw(transaction.waiting)
        for key in transaction.rows:
            row = self._rows[key]
            del row.holders[pid]
            self._grant_queued(key, row)

    def _transaction(self, pid: int) -> _Transaction:
        transaction = self._transactions.get(pid)
        if transaction is None:
            transaction = self._transactions[pid] = _Transaction(self._next_xid)
            self._next_xid += 1
        return transaction

    def _relation_oid(self, table: str) -> int:
        return self._relations.setdefault(table, _FIRST_RELATION_OID + len(self._relations))

    def _grant(self, row: _Row, pid: int, key: RowKey, mode: RowLockMode) -> None:
        row.holders[pid] = max(mode, row.holders.get(pid, mode))
        self._transactions[pid].rows[key] = None

    def _grant_queued(self, key: RowKey, row: _Row) -> None:
        """Grant queued requests in order while each is compatible with the holders."""
        while row.queue:
            request = row.queue[0]
            if self._conflicting_holders(row, request.pid, request.access.mode):
                break
            row.queue.popleft()
            self._grant(row, request.pid, key, request.access.mode)
            self._stop_waiting(request)
            request.wait.fire()
        if not row.holders and not row.queue:
            del self._rows[key]

    def _withdraw(self, request: _Request) -> None:
        """Take a request that gave up (timeout, deadlock, closed backend) out of its row's queue;
        those behind it may now be grantable."""
        self._stop_waiting(request)
        row = self._rows[request.key]
        if request in row.queue:
            row.queue.remove(request)
        self._grant_queued(request.key, row)

    def _stop_waiting(self, request: _Request) -> None:
        """The request is granted or withdrawn: from this instant its backend no longer shows a
        lock wait, even before its task resumes."""
        transaction = self._transactions.get(request.pid)
        if transaction is not None and transaction.waiting is request:
            transaction.waiting = None

    @staticmethod
    def _conflicting_holders(row: _Row, pid: int, mode: RowLockMode) -> list[int]:
        return [holder for holder, held in row.holders.items() if holder != pid and held.conflicts(mode)]

    # -- waits and deadlocks --------------------------------------------------------------------
    def _edges(self, request: _Request) -> tuple[str, list[int]]:
        """What ``request`` waits for: ('transactionid', [the conflicting holder it waits for now])
        when nothing queued ahead of it conflicts or it upgrades a lock it holds, else ('tuple',
        the conflicting requests ahead of it)."""
        row = self._rows[request.key]
        mode = request.access.mode
        ahead: list[int] = []
        if request.pid not in row.holders:
            for queued in row.queue:
                if queued is request:
                    break
                if queued.access.mode.conflicts(mode):
                    ahead.append(queued.pid)
        if ahead:
            return "tuple", ahead
        return "transactionid", self._conflicting_holders(row, request.pid, mode)[:1]

    def wait_event(self, pid: int) -> str | None:
        """pg_stat_activity.wait_event of ``pid`` if it waits for a row lock (type 'Lock')."""
        transaction = self._transactions.get(pid)
        if transaction is None or transaction.waiting is None:
            return None
        return self._edges(transaction.waiting)[0]

    def blocking_pids(self, pid: int) -> list[int]:
        """``pg_blocking_pids(pid)``: the backends whose locks or earlier requests hold it up."""
        transaction = self._transactions.get(pid)
        if transaction is None or transaction.waiting is None:
            return []
        return self._edges(transaction.waiting)[1]

    def _check_deadlock(self, request: _Request) -> None:
        """Run after ``deadlock_timeout`` of waiting: if the waits-for graph leads from this waiter
        back to itself, it is the victim, as the PostgreSQL backend whose timer fired aborts itself."""
        if request.wait.fired:
            return
        holders = self._rows[request.key].holders
        if not any(self._transactions[pid].waiting for pid in holders):
            return  # a wait leaves its row only through the holders: none of them waits, no cycle
        exits: dict[RowKey, dict[int, list[int]]] = {}
        hops = self._cycle_from(request.pid, exits)
        if hops is None:
            return
        cycle = [
            pid
            for waiter, holder in zip(hops, hops[1:] + hops[:1], strict=True)
            for pid in self._route(waiter, holder, exits)
        ]
        detail = "\n".join(
            self._describe_wait(pid, blocker)
            for pid, blocker in zip(cycle, cycle[1:] + cycle[:1], strict=True)
        )
        self._withdraw(request)
        request.wait.fire(_Deadlock(detail))

    def _cycle_from(self, start: int, exits: dict[RowKey, dict[int, list[int]]]) -> list[int] | None:
        """``start`` and the holders on a waits-for cycle through it, in wait order, if there is one.

        A request queued on a row leaves that row's queue only through the row's holders: the
        search steps from a waiter straight to the holders it waits for, directly or behind
        conflicting requests ahead of it (:meth:`_exits`), which keeps a check linear in the queue
        however many hundred requests wait on a hot row.  A cycle that returns to ``start`` through
        a request queued behind it is found by that request's own check."""

        def successors(pid: int) -> list[int]:
            transaction = self._transactions.get(pid)
            if transaction is None or transaction.waiting is None:
                return []
            return self._exits(transaction.waiting.key, exits)[pid]

        path = [start]
        pending = [iter(successors(start))]
        seen = {start}
        while pending:
            blocker = next(pending[-1], None)
            if blocker is None:
                pending.pop()
                path.pop()
            elif blocker == start:
                return path
            elif blocker not in seen:
                seen.add(blocker)
                path.append(blocker)
                pending.append(iter(successors(blocker)))
        return None

    def _exits(self, key: RowKey, cache: dict[RowKey, dict[int, list[int]]]) -> dict[int, list[int]]:
        """For each request queued on ``key``: the row's holders it waits for, directly or through
        the conflicting requests ahead of it.  One pass over the queue, remembering per mode what
        the requests seen so far reach."""
        found = cache.get(key)
        if found is not None:
            return found
        row = self._rows[key]
        found = cache[key] = {}
        reached_by_mode: dict[RowLockMode, dict[int, None]] = {}
        for request in row.queue:
            mode = request.access.mode
            ahead = [] if request.pid in row.holders else [m for m in reached_by_mode if m.conflicts(mode)]
            if ahead:
                reached = {holder: None for m in ahead for holder in reached_by_mode[m]}
            else:
                reached = dict.fromkeys(self._conflicting_holders(row, request.pid, mode))
            found[request.pid] = list(reached)
            reached_by_mode.setdefault(mode, {}).update(reached)
        return found

    def _route(self, waiter: int, holder: int, exits: dict[RowKey, dict[int, list[int]]]) -> list[int]:
        """The pids from ``waiter`` up to (not including) ``holder`` along its actual waits: through
        the requests ahead of it whose tuple lock it waits for, to the one waiting for ``holder``."""
        route = [waiter]
        while True:
            request = self._transactions[route[-1]].waiting
            assert request is not None
            kind, blockers = self._edges(request)
            if kind == "transactionid":
                return route
            reaching = self._exits(request.key, exits)
            route.append(next(pid for pid in blockers if holder in reaching[pid]))

    def _describe_wait(self, pid: int, blocker: int) -> str:
        request = self._transactions[pid].waiting
        assert request is not None
        kind, _ = self._edges(request)
        if kind == "transactionid":
            target = f"ShareLock on transaction {self._transactions[blocker].xid}"
        else:
            block, offset = request.key.tid
            target = (
                f"{request.access.mode.tuple_lock} on tuple ({block},{offset}) of relation"
                f" {self._relation_oid(request.key.table)} of database {DATABASE_OID}"
            )
        return f"Process {pid} waits for {target}; blocked by process {blocker}."

    # -- observation ----------------------------------------------------------------------------
    def snapshot(self) -> list[LockRow]:
        """``pg_locks`` as far as row locking puts rows in it, by pid: each locking transaction's
        own transaction id and its tables' locks; a waiter's tuple lock and the transaction id it
        waits for (or the tuple lock it waits for)."""
        rows: list[LockRow] = []
        for pid in sorted(self._transactions):
            transaction = self._transactions[pid]
            rows.append(
                LockRow(
                    "transactionid", None, None, None, None, transaction.xid, pid, "ExclusiveLock", True, None
                )
            )
            for table, mode in transaction.relation_locks:
                rows.append(LockRow("relation", DATABASE_OID, table, None, None, None, pid, mode, True, None))
            request = transaction.waiting
            if request is None:
                continue
            kind, blockers = self._edges(request)
            block, offset = request.key.tid
            tuple_lock = LockRow(
                "tuple",
                DATABASE_OID,
                request.key.table,
                block,
                offset,
                None,
                pid,
                request.access.mode.tuple_lock,
                kind == "transactionid",
                None if kind == "transactionid" else request.since,
            )
            rows.append(tuple_lock)
            if kind == "transactionid" and blockers:
                xid = self._transactions[blockers[0]].xid
                rows.append(
                    LockRow(
                        "transactionid", None, None, None, None, xid, pid, "ShareLock", False, request.since
                    )
                )
        return rows

    def mode_counts(self) -> dict[str, int]:
        """postgres_exporter's ``pg_locks_count`` per mode: locks with a database (transaction id
        locks have none), granted or not, by lower-cased mode."""
        counts = dict.fromkeys(EXPORTED_LOCK_MODES, 0)
        for lock in self.snapshot():
            if lock.database is not None:
                counts[lock.mode.lower()] += 1
        return counts
