"""The simulated PostgreSQL's row-level locks: the lock table itself, then the same waits as the
service meets them through SQLAlchemy's engine -- waits in virtual time, lock_timeout, deadlocks and
what pg_stat_activity, pg_blocking_pids and pg_locks show meanwhile."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, exc, insert, select, text, update

from obsim.scenario import Scenario
from simulator.host_metrics import PostgresLocksCollector
from simulator.kernel import Kernel
from simulator.locking_statements import lock_timeout_setting, locking_plan
from simulator.pg_errors import DeadlockDetected, LockNotAvailable
from simulator.postgres import PARAMSTYLE, SPEAK_POSTGRES
from simulator.row_locks import (
    DELETE_ACCESS,
    UPDATE_ACCESS,
    RowKey,
    RowLockMode,
    RowLocks,
    select_access,
)
from simulator.run import session_rows
from tests.test_virtual_pool import make_engine

KEY_SHARE, SHARE, NO_KEY_UPDATE, UPDATE = (
    RowLockMode.KEY_SHARE,
    RowLockMode.SHARE,
    RowLockMode.NO_KEY_UPDATE,
    RowLockMode.UPDATE,
)
ROW = RowKey("accounts", 1)


# -- the lock table ---------------------------------------------------------------------------------
def test_conflicts_are_postgresqls_table_of_row_level_locks():
    # "Conflicting Row-Level Locks" in the PostgreSQL manual (13.3.2), row by row.
    documented = {
        KEY_SHARE: {UPDATE},
        SHARE: {NO_KEY_UPDATE, UPDATE},
        NO_KEY_UPDATE: {SHARE, NO_KEY_UPDATE, UPDATE},
        UPDATE: {KEY_SHARE, SHARE, NO_KEY_UPDATE, UPDATE},
    }
    for requested, conflicting in documented.items():
        assert {held for held in RowLockMode if requested.conflicts(held)} == conflicting
        for held in RowLockMode:
            assert requested.conflicts(held) == held.conflicts(requested), "conflicts are symmetric"


def _holder(kernel: Kernel, locks: RowLocks, log: list, pid: int, mode: RowLockMode, hold_s: float) -> None:
    locks.acquire(pid, ROW, select_access(mode))
    log.append((pid, kernel.now))
    kernel.sleep(hold_s)
    locks.release(pid)


def test_waiters_are_granted_first_in_first_out_as_each_holder_ends():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    granted: list[tuple[int, float]] = []
    kernel.spawn(_holder, kernel, locks, granted, 1, UPDATE, 10.0)
    for arrival, pid in enumerate((4, 2, 3), start=1):  # pids out of order: the queue is by arrival
        kernel.spawn(_holder, kernel, locks, granted, pid, NO_KEY_UPDATE, 5.0, delay=float(arrival))
    kernel.run(until=3.5)
    assert locks.blocking_pids(4) == [1]  # the first waiter waits for the holder's transaction
    assert locks.wait_event(4) == "transactionid"
    assert locks.blocking_pids(2) == [4] and locks.wait_event(2) == "tuple"  # the rest for the tuple
    assert locks.blocking_pids(3) == [4, 2]
    kernel.run(until=100.0)
    assert granted == [(1, 0.0), (4, 10.0), (2, 15.0), (3, 20.0)]
    assert locks.snapshot() == [], "every lock is gone once its transaction ended"


def test_share_locks_are_held_together_and_an_update_waits_for_all_of_them():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    granted: list[tuple[int, float]] = []
    kernel.spawn(_holder, kernel, locks, granted, 1, SHARE, 10.0)
    kernel.spawn(_holder, kernel, locks, granted, 2, SHARE, 20.0, delay=1.0)
    kernel.spawn(_holder, kernel, locks, granted, 3, UPDATE, 1.0, delay=2.0)
    # Share requests compatible with the holders are granted past the queued update, as PostgreSQL
    # grants them (a real server's readers can starve a writer); a conflicting one queues behind it.
    kernel.spawn(_holder, kernel, locks, granted, 4, SHARE, 30.0, delay=3.0)
    kernel.spawn(_holder, kernel, locks, granted, 5, KEY_SHARE, 1.0, delay=4.0)
    kernel.spawn(_holder, kernel, locks, granted, 6, NO_KEY_UPDATE, 1.0, delay=5.0)
    kernel.run(until=6.0)
    assert locks.blocking_pids(3) == [1], "it waits for one holder's transaction at a time"
    assert locks.blocking_pids(6) == [3] and locks.wait_event(6) == "tuple"
    kernel.run(until=100.0)
    # The update runs when the last share lock goes (t=33), the next writer after it.
    assert granted == [(1, 0.0), (2, 1.0), (4, 3.0), (5, 4.0), (3, 33.0), (6, 34.0)]


def test_a_stronger_lock_already_held_covers_a_weaker_request_and_an_upgrade_waits_for_others():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    events: list[tuple[str, float]] = []

    def first() -> None:
        locks.acquire(1, ROW, select_access(SHARE))
        kernel.sleep(5.0)
        locks.release(1)

    def second() -> None:
        locks.acquire(2, ROW, select_access(SHARE))
        locks.acquire(2, ROW, select_access(KEY_SHARE))  # covered by SHARE: no wait, no new entry
        events.append(("shared", kernel.now))
        locks.acquire(2, ROW, DELETE_ACCESS)  # the upgrade waits for the other share lock only
        events.append(("upgraded", kernel.now))
        locks.release(2)

    kernel.spawn(first)
    kernel.spawn(second, delay=1.0)
    kernel.run(until=50.0)
    assert events == [("shared", 1.0), ("upgraded", 5.0)]


def test_a_cycle_of_three_has_one_victim_and_a_waiter_outside_it_is_spared():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel, deadlock_timeout_s=1.0)
    rows = [RowKey("accounts", n) for n in (1, 2, 3)]
    outcome: dict[int, tuple[str, float]] = {}

    def step(pid: int, mine: RowKey, wanted: RowKey, at: float) -> None:
        locks.acquire(pid, mine, UPDATE_ACCESS)
        kernel.sleep(at - kernel.now)
        try:
            locks.acquire(pid, wanted, UPDATE_ACCESS)
            outcome[pid] = ("granted", kernel.now)
            kernel.sleep(1.0)
        except DeadlockDetected as error:
            outcome[pid] = (str(error).splitlines()[1], kernel.now)
        locks.release(pid)

    def bystander() -> None:  # queues on row 1 behind the cycle, without being part of it
        locks.acquire(40, rows[0], UPDATE_ACCESS)
        outcome[40] = ("granted", kernel.now)
        locks.release(40)

    kernel.spawn(step, 11, rows[0], rows[1], 1.0)
    kernel.spawn(step, 12, rows[1], rows[2], 1.2)
    kernel.spawn(step, 13, rows[2], rows[0], 1.4)
    kernel.spawn(bystander, delay=1.5)
    kernel.run(until=30.0)
    # 11 began waiting first, so its check (at 2.0 s) finds the cycle 11 -> 12 -> 13 -> 11.
    assert outcome[11][0].startswith("DETAIL:  Process 11 waits for ShareLock on transaction")
    assert outcome[11][1] == pytest.approx(2.0)
    assert outcome[13] == ("granted", pytest.approx(2.0))  # row 1, free of 11
    assert outcome[12] == ("granted", pytest.approx(3.0))  # row 3, once 13 is done
    assert outcome[40] == ("granted", pytest.approx(3.0))  # behind 13 on row 1, never a victim


def test_a_cycle_through_a_tuple_wait_names_the_waiter_that_holds_the_tuple():
    """13 queues on row 1 behind 40, which waits for 11: PostgreSQL's cycle runs through 40."""
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    rows = [RowKey("accounts", n) for n in (1, 2)]
    outcome: dict[int, str] = {}

    def step(pid: int, mine: RowKey | None, wanted: RowKey, at: float) -> None:
        if mine is not None:
            locks.acquire(pid, mine, UPDATE_ACCESS)
        kernel.sleep(at - kernel.now)
        try:
            locks.acquire(pid, wanted, UPDATE_ACCESS)
            outcome[pid] = "granted"
        except DeadlockDetected as error:
            outcome[pid] = str(error)
        locks.release(pid)

    kernel.spawn(step, 11, rows[0], rows[1], 1.0)
    kernel.spawn(step, 40, None, rows[0], 1.1)
    kernel.spawn(step, 13, rows[1], rows[0], 1.2)
    kernel.run(until=30.0)
    detail = outcome[11].split("\nHINT:")[0].splitlines()[1:]
    assert detail[0].startswith("DETAIL:  Process 11 waits for ShareLock on transaction")
    assert detail[0].endswith("blocked by process 13.")
    assert detail[1] == (
        "Process 13 waits for ExclusiveLock on tuple (0,1) of relation 16385 of database 16384;"
        " blocked by process 40."
    )
    assert detail[2].startswith("Process 40 waits for ShareLock on transaction")
    assert detail[2].endswith("blocked by process 11.")
    assert outcome[40] == outcome[13] == "granted"


def test_hundreds_of_waiters_on_one_row_are_served_in_order_and_checked_for_deadlocks():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    granted: list[tuple[int, float]] = []
    kernel.spawn(_holder, kernel, locks, granted, 1, UPDATE, 10.0)
    for n in range(2, 1502):
        kernel.spawn(_holder, kernel, locks, granted, n, NO_KEY_UPDATE, 0.01, delay=n * 0.001)
    kernel.run(until=5.0)
    assert len(locks.blocking_pids(1501)) == 1499  # every conflicting request queued ahead of it
    assert locks.blocking_pids(2) == [1]
    kernel.run(until=100.0)
    assert [pid for pid, _ in granted] == list(range(1, 1502))
    assert granted[-1][1] == pytest.approx(10.0 + 1499 * 0.01)  # each of the 1500 waiters holds it 10 ms


def test_pg_locks_rows_and_counts_of_a_holder_a_waiter_and_one_behind_it():
    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    kernel.spawn(_holder, kernel, locks, [], 7, UPDATE, 10.0)
    kernel.spawn(lambda: locks.acquire(8, ROW, UPDATE_ACCESS), delay=1.0)
    kernel.spawn(lambda: locks.acquire(9, ROW, UPDATE_ACCESS), delay=2.0)
    kernel.run(until=3.0)
    rows = [(r.locktype, r.relation, r.pid, r.mode, r.granted, r.waitstart) for r in locks.snapshot()]
    assert rows == [
        ("transactionid", None, 7, "ExclusiveLock", True, None),
        ("relation", "accounts", 7, "RowShareLock", True, None),
        ("transactionid", None, 8, "ExclusiveLock", True, None),
        ("relation", "accounts", 8, "RowExclusiveLock", True, None),
        ("tuple", "accounts", 8, "ExclusiveLock", True, None),  # the first waiter holds the tuple lock
        ("transactionid", None, 8, "ShareLock", False, 1.0),  # and waits for the holder's xid
        ("transactionid", None, 9, "ExclusiveLock", True, None),
        ("relation", "accounts", 9, "RowExclusiveLock", True, None),
        ("tuple", "accounts", 9, "ExclusiveLock", False, 2.0),  # the next waits for the tuple lock
    ]
    holder_xid = locks.snapshot()[0].transactionid
    assert locks.snapshot()[5].transactionid == holder_xid
    counts = locks.mode_counts()
    # Transaction id locks have no database, so postgres_exporter's query does not count them.
    assert {mode: n for mode, n in counts.items() if n} == {
        "rowsharelock": 1,
        "rowexclusivelock": 2,
        "exclusivelock": 2,
    }
    assert "accessexclusivelock" in counts and counts["accessexclusivelock"] == 0


# -- statements -----------------------------------------------------------------------------------
def test_which_statements_lock_what():
    assert locking_plan("SELECT a.id FROM accounts WHERE accounts.id = :id") is None
    assert locking_plan("INSERT INTO accounts (balance) VALUES (:b)") is None
    plan = locking_plan("SELECT a.id, a.balance FROM accounts AS a WHERE a.id = :id_1 FOR NO KEY UPDATE OF a")
    assert plan is not None
    assert plan.statement == "SELECT a.id, a.balance FROM accounts AS a WHERE a.id = :id_1"
    assert plan.keys == "SELECT a.rowid FROM accounts AS a WHERE a.id = :id_1"
    assert (plan.table, plan.access.mode, plan.nowait) == ("accounts", NO_KEY_UPDATE, False)
    share = locking_plan(
        "SELECT accounts.id FROM accounts ORDER BY accounts.id LIMIT :n FOR KEY SHARE NOWAIT"
    )
    assert share is not None and share.access.mode == KEY_SHARE and share.nowait
    assert share.keys == "SELECT accounts.rowid FROM accounts ORDER BY accounts.id LIMIT :n"
    upd = locking_plan(
        "UPDATE accounts SET balance=(accounts.balance + :b) WHERE accounts.id = :id RETURNING accounts.id"
    )
    assert upd is not None and upd.access == UPDATE_ACCESS
    assert upd.keys == "SELECT rowid FROM accounts WHERE accounts.id = :id"
    everything = locking_plan("DELETE FROM accounts")
    assert everything is not None and everything.access == DELETE_ACCESS
    assert everything.keys == "SELECT rowid FROM accounts"


def test_set_lock_timeout_reads_units_scope_and_default():
    assert lock_timeout_setting("SET lock_timeout = '2s'") == (False, 2.0)
    assert lock_timeout_setting("SET lock_timeout TO 1500") == (False, 1.5)  # no unit: milliseconds
    assert lock_timeout_setting("set local lock_timeout = '1min'") == (True, 60.0)
    assert lock_timeout_setting("SET SESSION lock_timeout = DEFAULT") == (False, None)
    assert lock_timeout_setting("SET statement_timeout = '2s'") is None
    with pytest.raises(ValueError, match='invalid value for parameter "lock_timeout"'):
        lock_timeout_setting("SET lock_timeout = 'soon'")


# -- through SQLAlchemy ------------------------------------------------------------------------------
ACCOUNTS = Table("accounts", MetaData(), Column("id", Integer, primary_key=True), Column("balance", Integer))


def _bank(kernel: Kernel, size: int = 6):
    # The engine options the simulator gives the service's engine: psycopg's parameters, FOR UPDATE.
    engine, server = make_engine(kernel, size=size, paramstyle=PARAMSTYLE, plugins=[SPEAK_POSTGRES])
    ACCOUNTS.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(ACCOUNTS), [{"balance": 100} for _ in range(5)])
    return engine, server


def _add(conn, account: int, amount: int) -> None:
    conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == account).values(balance=ACCOUNTS.c.balance + amount))


def _holds(kernel: Kernel, engine, account: int, seconds: float):
    """A task that updates ``account`` and keeps its transaction (and the row's lock) for ``seconds``."""

    def holder() -> None:
        with engine.connect() as conn:
            _add(conn, account, 1)
            kernel.sleep(seconds)
            conn.commit()

    return holder


def test_writes_queue_behind_select_for_update_in_virtual_time_and_show_as_lock_waits():
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    pids: dict[str, int] = {}
    done: dict[str, float] = {}

    def job() -> None:  # holds the hot row in a long transaction
        with engine.connect() as conn:
            pids["job"] = conn.connection.dbapi_connection.backend.pid
            conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == 1).with_for_update()).all()
            kernel.sleep(30.0)
            conn.commit()
        done["job"] = kernel.now

    def write(name: str) -> None:
        with engine.connect() as conn:
            pids[name] = conn.connection.dbapi_connection.backend.pid
            _add(conn, 1, 5)
            conn.commit()
        done[name] = kernel.now

    seen: dict[str, object] = {}

    def look() -> None:
        by_pid = {b.pid: b for b in server.activity()}
        seen["activity"] = {
            name: (by_pid[pid].state, *server.wait_event(by_pid[pid]), by_pid[pid].query)
            for name, pid in pids.items()
        }
        seen["blocking"] = {name: server.row_locks.blocking_pids(pid) for name, pid in pids.items()}
        # The dataset's pg_stat_activity snapshot (what the Database view reads): its wait columns
        # and pg_blocking_pids as PostgreSQL prints an int[].
        seen["snapshot"] = {row[1]: (*row[11:13], row[14]) for row in session_rows(kernel.now, server)}

    kernel.spawn(job)
    kernel.spawn(write, "first", delay=1.0)
    kernel.spawn(write, "second", delay=2.0)
    kernel.call_at(10.0, look)
    kernel.run(until=100.0)

    assert any(statement.endswith("FOR UPDATE") for statement in sent), "the service sends FOR UPDATE"
    update_text = "UPDATE accounts SET balance=(accounts.balance + $1) WHERE accounts.id = $2"
    assert seen["activity"] == {
        "job": (
            "idle in transaction",
            "Client",
            "ClientRead",
            "SELECT accounts.id, accounts.balance \nFROM accounts \nWHERE accounts.id = $1 FOR UPDATE",
        ),
        "first": ("active", "Lock", "transactionid", update_text),
        "second": ("active", "Lock", "tuple", update_text),
    }
    assert seen["blocking"] == {"job": [], "first": [pids["job"]], "second": [pids["first"]]}
    assert seen["snapshot"] == {
        pids["job"]: ("Client", "ClientRead", None),
        pids["first"]: ("Lock", "transactionid", f"{{{pids['job']}}}"),
        pids["second"]: ("Lock", "tuple", f"{{{pids['first']}}}"),
    }
    # Each write ran once the lock passed to it: the job's commit at ~30 s, then one after the other.
    assert done["job"] == pytest.approx(30.0, abs=0.01)
    assert done["job"] < done["first"] < done["second"] < done["job"] + 0.05
    with engine.connect() as conn:
        assert conn.scalar(select(ACCOUNTS.c.balance).where(ACCOUNTS.c.id == 1)) == 110
    assert server.row_locks.snapshot() == []


def test_lock_timeout_cancels_the_wait_at_its_instant_with_psycopgs_error():
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel)
    outcome: dict[str, object] = {}

    def impatient() -> None:
        with engine.connect() as conn:
            conn.execute(text("SET lock_timeout = '2s'"))
            started = kernel.now
            try:
                _add(conn, 2, 1)
            except exc.OperationalError as error:
                outcome["error"] = error
                outcome["waited"] = kernel.now - started
                outcome["state"] = conn.connection.dbapi_connection.backend.state
                outcome["locks_left"] = [r.pid for r in server.row_locks.snapshot()]
                conn.rollback()

    kernel.spawn(_holds(kernel, engine, 2, 60.0))
    kernel.spawn(impatient, delay=1.0)
    kernel.run(until=100.0)
    error = outcome["error"]
    assert isinstance(error, exc.OperationalError)
    assert outcome["waited"] == pytest.approx(2.0)
    assert isinstance(error.orig, LockNotAvailable) and error.orig.sqlstate == "55P03"
    assert (
        str(error.orig)
        == 'canceling statement due to lock timeout\nCONTEXT:  while updating tuple (0,2) in relation "accounts"'
    )
    assert str(error).startswith("(psycopg.errors.LockNotAvailable) canceling statement due to lock timeout")
    assert outcome["state"] == "idle in transaction (aborted)"
    assert len(set(outcome["locks_left"])) == 1, "the failed statement aborted its transaction's locks"


def test_a_lock_timeout_postgresql_would_refuse_is_a_data_error():
    kernel = Kernel(start=0.0)
    engine, _ = _bank(kernel)
    with engine.connect() as conn, pytest.raises(exc.DataError) as raised:
        conn.execute(text("SET lock_timeout = 'soon'"))
    assert raised.value.orig.sqlstate == "22023"
    assert str(raised.value.orig) == 'invalid value for parameter "lock_timeout": "soon"'


def test_nowait_fails_at_once():
    kernel = Kernel(start=0.0)
    engine, _ = _bank(kernel)
    outcome: dict[str, object] = {}

    def nowait() -> None:
        with engine.connect() as conn:
            asked = kernel.now  # once connected: opening a connection takes a few milliseconds
            try:
                conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == 3).with_for_update(nowait=True))
            except exc.OperationalError as error:
                outcome["waited"], outcome["message"] = kernel.now - asked, str(error.orig)

    kernel.spawn(_holds(kernel, engine, 3, 10.0))
    kernel.spawn(nowait, delay=1.0)
    kernel.run(until=100.0)
    assert outcome == {"waited": 0.0, "message": 'could not obtain lock on row in relation "accounts"'}


def test_a_deadlock_is_found_after_deadlock_timeout_and_exactly_one_victim_is_aborted():
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel)
    results: dict[str, object] = {}
    pids: dict[str, int] = {}

    def transfer(name: str, first: int, second: int, pause: float) -> None:
        with engine.connect() as conn:
            pids[name] = conn.connection.dbapi_connection.backend.pid
            _add(conn, first, -10)
            kernel.sleep(pause)
            try:
                _add(conn, second, 10)
                conn.commit()
                results[name] = ("committed", kernel.now)
            except exc.OperationalError as error:
                results[name] = (error.orig, kernel.now)
                conn.rollback()

    kernel.spawn(transfer, "a", 4, 5, 1.0)  # waits for "b" from ~1.0 s
    kernel.spawn(transfer, "b", 5, 4, 1.5)  # closes the cycle at ~1.5 s
    kernel.run(until=100.0)

    victim, at = results["a"]
    assert isinstance(victim, DeadlockDetected) and victim.sqlstate == "40P01"
    # The victim is the waiter whose deadlock_timeout (1 s) ran out first: "a", at ~2.0 s.
    assert at == pytest.approx(2.0, abs=0.01)
    assert results["b"][0] == "committed" and results["b"][1] == pytest.approx(2.0, abs=0.01)
    a, b = pids["a"], pids["b"]
    pattern = (
        rf"deadlock detected\nDETAIL:  Process {a} waits for ShareLock on transaction (\d+); blocked by process {b}\.\n"
        rf"Process {b} waits for ShareLock on transaction (\d+); blocked by process {a}\.\n"
        r"HINT:  See server log for query details\.\n"
        r'CONTEXT:  while updating tuple \(0,5\) in relation "accounts"'
    )
    match = re.fullmatch(pattern, str(victim))
    assert match is not None, str(victim)
    assert match.group(1) != match.group(2)
    with engine.connect() as conn:
        balances = dict(
            conn.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.balance).where(ACCOUNTS.c.id.in_([4, 5]))).all()
        )
    # b's transfer went through; a's first write is not undone (SQLite autocommits: see postgres.py).
    assert balances == {4: 100, 5: 90}
    assert server.row_locks.snapshot() == []


def test_a_closed_connection_gives_up_its_locks_and_its_place_in_line():
    """A killed worker's connections close: the server ends their transactions (and waits)."""
    kernel = Kernel(start=0.0)
    _, server = _bank(kernel)
    holder = server.connect("platform-api", "10.0.0.1")
    doomed = server.connect("platform-api", "10.0.0.1")
    waiter = server.connect("platform-api", "10.0.0.1")
    granted: dict[str, float] = {}

    def write(connection, name: str) -> None:
        connection.cursor().execute("UPDATE accounts SET balance = 0 WHERE id = %(id)s", {"id": 1})
        granted[name] = kernel.now

    kernel.spawn(write, holder, "holder")
    kernel.spawn(write, doomed, "doomed", delay=1.0)  # never resumes: its worker dies meanwhile
    kernel.spawn(write, waiter, "waiter", delay=2.0)
    kernel.run(until=3.0)
    assert server.row_locks.blocking_pids(waiter.backend.pid) == [doomed.backend.pid]
    doomed.close()
    assert server.row_locks.blocking_pids(waiter.backend.pid) == [holder.backend.pid]
    kernel.call_at(5.0, holder.close)
    kernel.run(until=10.0)
    assert set(granted) == {"holder", "waiter"} and granted["waiter"] == pytest.approx(5.0, abs=0.01)


def test_no_deadlock_check_fires_for_a_wait_that_ends_before_deadlock_timeout():
    kernel = Kernel(start=0.0)
    engine, _ = _bank(kernel)
    outcomes: list[str] = []

    def quick(name: str) -> None:
        with engine.connect() as conn:
            _add(conn, 1, 1)
            kernel.sleep(0.5)
            conn.commit()
            outcomes.append(name)

    kernel.spawn(quick, "a")
    kernel.spawn(quick, "b", delay=0.1)
    kernel.run(until=10.0)
    assert outcomes == ["a", "b"]


# -- against a real PostgreSQL ------------------------------------------------------------------------
def _normalise(message: str, names: dict[int, str]) -> str:
    """An error message with pids as session names and transaction ids as X."""
    message = re.sub(r"transaction \d+", "transaction X", message)
    return re.sub(
        r"process \d+|Process \d+",
        lambda m: f"{m.group(0).split()[0]} {names[int(m.group(0).split()[1])]}",
        message,
    )


def _picture(activity, blocking, locks, names: dict[int, str]) -> dict[str, object]:
    return {
        "activity": {names[pid]: row for pid, row in activity.items()},
        "blocking": {names[pid]: sorted(names[b] for b in blockers) for pid, blockers in blocking.items()},
        "locks": sorted((names[pid], *rest) for pid, *rest in locks),
    }


def _real_chain(url: str) -> dict[str, object]:
    """The job holds account 1 FOR UPDATE; two sessions' UPDATEs queue behind it; then a lock
    timeout and a deadlock -- on a real PostgreSQL, sessions in threads."""
    import threading
    import time

    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id integer PRIMARY KEY, balance integer)")
        conn.execute("INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) g")
    sessions = {name: psycopg.connect(url) for name in ("job", "first", "second")}
    observer = psycopg.connect(url, autocommit=True)
    names = {conn.info.backend_pid: name for name, conn in sessions.items()}
    errors: dict[str, str] = {}

    def run(name: str, sql: str) -> None:
        try:
            sessions[name].execute(sql)
        except psycopg.Error as error:
            errors[name] = f"{error.sqlstate} {_normalise(str(error), names)}"
            sessions[name].rollback()

    try:
        sessions["job"].execute("SELECT * FROM accounts WHERE id = 1 FOR UPDATE")
        threads = []
        for name in ("first", "second"):
            threads.append(
                threading.Thread(
                    target=run, args=(name, "UPDATE accounts SET balance = balance + 5 WHERE id = 1")
                )
            )
            threads[-1].start()
            time.sleep(0.3)
        pids = list(names)
        activity = {
            pid: (state, wait_type, wait)
            for pid, state, wait_type, wait in observer.execute(
                "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity WHERE pid = ANY(%s)",
                [pids],
            )
        }
        blocking = dict(
            observer.execute(
                "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]
            ).fetchall()
        )
        locks = observer.execute(
            "SELECT pid, locktype, relation::regclass::text, mode, granted FROM pg_locks WHERE pid = ANY(%s)"
            " AND locktype IN ('relation', 'tuple', 'transactionid')"
            " AND (relation IS NULL OR relation = 'accounts'::regclass)",
            [pids],
        ).fetchall()
        for conn in sessions.values():
            conn.commit()
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        picture = _picture(activity, blocking, locks, names)
        sessions["job"].execute("UPDATE accounts SET balance = 0 WHERE id = 2")
        sessions["first"].execute("SET lock_timeout = '200ms'")
        run("first", "UPDATE accounts SET balance = 1 WHERE id = 2")
        sessions["job"].rollback()
        sessions["job"].execute("UPDATE accounts SET balance = 0 WHERE id = 4")
        sessions["second"].execute("UPDATE accounts SET balance = 0 WHERE id = 5")
        deadlock = [
            threading.Thread(target=run, args=("job", "UPDATE accounts SET balance = 1 WHERE id = 5"))
        ]
        deadlock.append(
            threading.Thread(target=run, args=("second", "UPDATE accounts SET balance = 1 WHERE id = 4"))
        )
        for thread in deadlock:
            thread.start()
            time.sleep(0.3)
        for thread in deadlock:
            thread.join()
        return {**picture, "errors": errors}
    finally:
        for conn in (*sessions.values(), observer):
            conn.close()


def _simulated_chain() -> dict[str, object]:
    """The same sessions on the simulated server, in virtual time."""
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel)
    conns = {name: engine.connect() for name in ("job", "first", "second")}
    names = {conn.connection.dbapi_connection.backend.pid: name for name, conn in conns.items()}
    errors: dict[str, str] = {}
    picture: dict[str, object] = {}

    def run(name: str, sql: str) -> None:
        try:
            conns[name].execute(text(sql))
        except exc.OperationalError as error:
            errors[name] = f"{error.orig.sqlstate} {_normalise(str(error.orig), names)}"
            conns[name].rollback()

    def look() -> None:
        by_pid = {b.pid: b for b in server.activity() if b.pid in names}
        activity = {pid: (b.state, *server.wait_event(b)) for pid, b in by_pid.items()}
        blocking = {pid: server.row_locks.blocking_pids(pid) for pid in by_pid}
        locks = [(r.pid, r.locktype, r.relation, r.mode, r.granted) for r in server.row_locks.snapshot()]
        picture.update(_picture(activity, blocking, locks, names))

    def script() -> None:
        run("job", "SELECT * FROM accounts WHERE id = 1 FOR UPDATE")
        for delay, name in ((0.3, "first"), (0.6, "second")):
            kernel.spawn(run, name, "UPDATE accounts SET balance = balance + 5 WHERE id = 1", delay=delay)
        kernel.sleep(0.9)
        look()
        for conn in conns.values():
            conn.commit()
            kernel.sleep(0.1)
        run("job", "UPDATE accounts SET balance = 0 WHERE id = 2")
        run("first", "SET lock_timeout = '200ms'")
        run("first", "UPDATE accounts SET balance = 1 WHERE id = 2")
        conns["job"].rollback()
        run("job", "UPDATE accounts SET balance = 0 WHERE id = 4")
        run("second", "UPDATE accounts SET balance = 0 WHERE id = 5")
        kernel.spawn(run, "job", "UPDATE accounts SET balance = 1 WHERE id = 5")
        kernel.spawn(run, "second", "UPDATE accounts SET balance = 1 WHERE id = 4", delay=0.3)
        kernel.sleep(5.0)

    kernel.spawn(script)
    kernel.run(until=60.0)
    return {**picture, "errors": errors}


def test_the_simulated_server_shows_what_a_real_postgresql_shows(postgres_url):
    real = _real_chain(postgres_url.replace("postgresql+psycopg://", "postgresql://", 1))
    simulated = _simulated_chain()
    assert real["activity"]["second"] == ("active", "Lock", "tuple"), "the real server's own picture"
    assert simulated == real


def test_lock_counts_are_exported_as_postgres_exporters_pg_locks_count():
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    from world.postgres_metrics import pg_locks_families

    kernel = Kernel(start=0.0)
    locks = RowLocks(kernel)
    kernel.spawn(_holder, kernel, locks, [], 7, UPDATE, 10.0)
    kernel.spawn(lambda: locks.acquire(8, ROW, UPDATE_ACCESS), delay=1.0)
    kernel.run(until=2.0)

    class Locks(Collector):
        def collect(self):
            return pg_locks_families("platform", locks.mode_counts())

    registry = CollectorRegistry()
    registry.register(Locks())
    exposition = generate_latest(registry).decode()
    assert "# HELP pg_locks_count Number of locks" in exposition
    assert 'pg_locks_count{datname="platform",mode="rowexclusivelock"} 1.0' in exposition
    assert 'pg_locks_count{datname="platform",mode="exclusivelock"} 1.0' in exposition  # the tuple lock
    assert 'pg_locks_count{datname="platform",mode="accessexclusivelock"} 0.0' in exposition
    assert exposition.count("pg_locks_count{") == 9


SHARE_SCRIPT = [  # (session, statement), each 0.3 s after the last; all on account 1
    ("reader", "SELECT * FROM accounts WHERE id = 1 FOR SHARE"),
    ("writer", "SELECT * FROM accounts WHERE id = 1 FOR UPDATE"),
    ("late_reader", "SELECT * FROM accounts WHERE id = 1 FOR SHARE"),
    ("checker", "SELECT * FROM accounts WHERE id = 1 FOR KEY SHARE"),
    ("updater", "UPDATE accounts SET balance = 0 WHERE id = 1"),
]


def _real_share(url: str) -> dict[str, object]:
    import threading
    import time

    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id integer PRIMARY KEY, balance integer)")
        conn.execute("INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) g")
    sessions = {name: psycopg.connect(url) for name, _ in SHARE_SCRIPT}
    names = {conn.info.backend_pid: name for name, conn in sessions.items()}
    granted: list[str] = []
    try:
        threads = []
        for name, sql in SHARE_SCRIPT:
            threads.append(
                threading.Thread(target=lambda n=name, q=sql: (sessions[n].execute(q), granted.append(n)))
            )
            threads[-1].start()
            time.sleep(0.3)
        with psycopg.connect(url, autocommit=True) as observer:
            rows = observer.execute(
                "SELECT pid, wait_event, pg_blocking_pids(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                [list(names)],
            ).fetchall()
        waits = {names[pid]: (event, sorted(names[b] for b in blockers)) for pid, event, blockers in rows}
        snapshot = list(granted)
        # The lock holders first: a commit on a session still in its statement waits for it.
        for name in [*snapshot, *(name for name, _ in SHARE_SCRIPT if name not in snapshot)]:
            sessions[name].commit()
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        return {"granted_while_writer_waits": snapshot, "waits": waits}
    finally:
        for conn in sessions.values():
            conn.close()


def _simulated_share() -> dict[str, object]:
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel, size=len(SHARE_SCRIPT))
    conns = {name: engine.connect() for name, _ in SHARE_SCRIPT}
    names = {conn.connection.dbapi_connection.backend.pid: name for name, conn in conns.items()}
    granted: list[str] = []
    seen: dict[str, object] = {}

    def run(name: str, sql: str) -> None:
        conns[name].execute(text(sql))
        granted.append(name)

    def look() -> None:
        seen["granted_while_writer_waits"] = list(granted)
        seen["waits"] = {
            names[b.pid]: (
                server.wait_event(b)[1],
                sorted(names[p] for p in server.row_locks.blocking_pids(b.pid)),
            )
            for b in server.activity()
            if b.pid in names
        }
        for name in [*granted, *(name for name, _ in SHARE_SCRIPT if name not in granted)]:
            kernel.sleep(0.1)  # as on the real server: each commit once the session's statement is done
            conns[name].commit()

    for step, (name, sql) in enumerate(SHARE_SCRIPT):
        kernel.spawn(run, name, sql, delay=0.3 * step)
    kernel.call_at(0.3 * len(SHARE_SCRIPT), lambda: kernel.spawn(look))
    kernel.run(until=60.0)
    assert sorted(granted) == sorted(name for name, _ in SHARE_SCRIPT)
    return seen


def test_share_lockers_pass_a_queued_writer_as_on_a_real_postgresql(postgres_url):
    real = _real_share(postgres_url.replace("postgresql+psycopg://", "postgresql://", 1))
    assert real["granted_while_writer_waits"] == ["reader", "late_reader", "checker"], "the real server's own"
    assert _simulated_share() == real


def test_the_locks_collector_reports_pg_locks_count_of_the_servers_row_locks_and_is_off_by_default():
    """postgres_exporter's ``pg_locks_count`` over a holder and a waiter; a scenario opts in to it."""
    kernel = Kernel(start=0.0)
    engine, server = _bank(kernel)
    collector = PostgresLocksCollector(server)

    def counts() -> dict[str, float]:
        (family,) = collector.collect()
        return {sample.labels["mode"]: sample.value for sample in family.samples}

    seen: dict[str, float] = {}
    kernel.spawn(_holds(kernel, engine, 1, 20.0))
    kernel.spawn(_holds(kernel, engine, 1, 1.0), delay=1.0)
    kernel.call_at(5.0, lambda: seen.update(counts()))
    kernel.run(until=60.0)

    assert seen["rowexclusivelock"] == 2  # both updaters' table locks
    assert seen["exclusivelock"] == 1  # the waiter's tuple lock
    assert set(counts().values()) == {0}  # both committed
    assert Scenario.model_fields["exporters"].default_factory().postgres_locks is False
