"""A simulated PostgreSQL server: real data in SQLite, PostgreSQL's timing and session states.

The application's engine is given :meth:`SimulatedPostgres.connect` as its DBAPI ``creator``.  Every
connection is a *backend* (a pid in ``pg_stat_activity``).  All backends share one in-memory
SQLite database in autocommit mode, so statements really run against real rows; what PostgreSQL
would add is modelled on top:

* **Cost.**  Each statement's CPU demand is derived from the work SQLite actually did for it (its
  virtual-machine steps, counted by a progress handler), so a query over a grown table really costs
  more; a network round trip is added.  Neither is ever exactly the same twice: each is multiplied
  by a log-normal factor (caches, scheduling, the network) drawn from the run's seed in batches.
* **Connections** take time to open (TCP, the startup packet, authentication, the backend's fork):
  a backend starts partway through its client's connect, which waits for all of it.  Connections
  a process opens while it boots, before the window, started when it booted (``booted_at``).
* **Contention.**  The server has ``cores`` CPUs shared by the running statements (processor
  sharing): with more statements running than cores, each progresses at ``cores / running`` of
  full speed, so concurrent heavy work raises everyone's latency and the CPU utilisation.
* **Session state**, as psycopg's implicit transactions produce it: the first statement after a
  commit or rollback opens a transaction (``xact_start``); a backend is ``active`` while a statement
  runs, ``idle in transaction`` between statements, ``idle`` after commit/rollback.
* **Statement text** as PostgreSQL's client stack shows it (:func:`speak_postgres`: a ``LIMIT``
  without an offset compiles as PostgreSQL's dialect compiles it, with no ``OFFSET 0``).  The engine compiles with psycopg's
  ``pyformat`` parameters (``%(tenant_id_1)s``), so the service's spans record what SQLAlchemy
  would hand psycopg; ``pg_stat_activity.query`` shows the server-side form with numbered
  parameters (``$1``), as psycopg 3 sends it.  Neither shows SQLite's ``?``.  The shim turns the
  text into SQLite's named form (``:tenant_id_1``) to run it (:func:`statement_forms`).

* **Row locks**, only where the statement asks PostgreSQL for them: a locking ``SELECT``, an
  ``UPDATE`` or a ``DELETE`` locks its rows until the transaction ends, and a conflicting statement
  waits in virtual time (:mod:`simulator.row_locks`, :mod:`simulator.locking_statements`), shown as
  a ``Lock`` wait in ``pg_stat_activity``.  ``lock_timeout`` (``SET lock_timeout``) and deadlocks end
  a wait with psycopg's errors; any error aborts the transaction and releases its locks.

Rollback does not undo SQLite's autocommitted writes: the model is about time and sessions, and no
figure the candidate sees depends on rolled-back rows.
"""

from __future__ import annotations

import itertools
import random
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.dialects import plugins
from sqlalchemy.dialects.postgresql.base import PGCompiler
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import CreateEnginePlugin

from simulator.kernel import Kernel
from simulator.locking_statements import LockingPlan, lock_timeout_setting, locking_plan
from simulator.pg_errors import Diagnostic, InvalidParameterValue
from simulator.row_locks import RowKey, RowLocks

# How many SQLite VM instructions pass between progress-handler calls; the unit of measured work.
_STEP_GRANULARITY = 100
# How often a long statement's share of the CPUs is recomputed.
_QUANTUM_S = 0.25
# The engine option that makes SQLAlchemy compile statements with psycopg's parameter style.
PARAMSTYLE = "pyformat"
_PYFORMAT_TOKEN = re.compile(r"%\((\w+)\)s|%%")


class StatementForms(NamedTuple):
    """One statement as SQLite runs it and as ``pg_stat_activity`` shows it."""

    sqlite: str
    server: str


@lru_cache(maxsize=4096)
def statement_forms(statement: str) -> StatementForms:
    """``pyformat`` text (``%(name)s``, ``%%`` for a literal percent) in SQLite's named form
    (``:name``) and in PostgreSQL's server-side form (``$1``, numbered by first appearance)."""
    numbers: dict[str, int] = {}

    def named(match: re.Match[str]) -> str:
        return "%" if match.group(1) is None else ":" + match.group(1)

    def numbered(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return "$" + str(numbers.setdefault(name, len(numbers) + 1))

    return StatementForms(_PYFORMAT_TOKEN.sub(named, statement), _PYFORMAT_TOKEN.sub(numbered, statement))


@dataclass
class DatabaseServerModel:
    """Capacity and cost parameters of the database host."""

    host_name: str = "db-1"
    cores: int = 8
    max_connections: int = 500
    round_trip_s: float = 0.0008  # client <-> server network and protocol overhead per statement
    base_cpu_s: float = 0.0003  # parse/plan/execute overhead of the smallest statement
    cpu_per_step_s: float = 0.0000004  # CPU per SQLite VM instruction, scaled to the modelled host
    write_bytes_per_row: int = 320  # WAL + heap bytes per written row, for disk I/O figures
    read_bytes_per_step: float = 1.0  # pages missed in shared buffers, proportional to work
    cpu_jitter_sigma: float = 0.2  # a statement's CPU times a log-normal factor with this sigma
    round_trip_jitter_sigma: float = 0.3
    connect_network_s: float = 0.0015  # TCP handshake and the startup packet, before the fork
    connect_auth_s: float = 0.003  # the backend's fork, authentication, session set-up
    lock_timeout_s: float = 0.0  # the server's lock_timeout; 0 waits without limit
    deadlock_timeout_s: float = 1.0


@dataclass(slots=True)
class Backend:
    """One server process: a row of pg_stat_activity."""

    pid: int
    application_name: str
    client_addr: str
    backend_start: float
    state: str = "idle"
    xact_start: float | None = None
    query_start: float | None = None
    state_change: float = 0.0
    query: str = ""
    closed: bool = False
    executing: bool = False
    lock_timeout_s: float = 0.0  # SET lock_timeout
    local_lock_timeout_s: float | None = None  # SET LOCAL lock_timeout, until the transaction ends

    @property
    def effective_lock_timeout_s(self) -> float:
        return self.lock_timeout_s if self.local_lock_timeout_s is None else self.local_lock_timeout_s


class SimulatedPostgres:
    def __init__(
        self, kernel: Kernel, model: DatabaseServerModel, rng: random.Random, first_pid: int = 4100
    ) -> None:
        self.kernel = kernel
        self.model = model
        self.rng = rng
        self._jitter: list[tuple[float, float]] = []
        # When the process connecting outside the kernel's tasks booted (None: now).
        self.booted_at: float | None = None
        self.sqlite = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.sqlite.set_progress_handler(self._count_steps, _STEP_GRANULARITY)
        self.backends: dict[int, Backend] = {}
        self.row_locks = RowLocks(kernel, model.deadlock_timeout_s)
        self._pids = itertools.count(first_pid)
        self._ticks = 0
        self.running = 0  # statements executing right now
        self.cpu_seconds = 0.0  # cumulative CPU demand served
        self.read_bytes = 0
        self.write_bytes = 0
        self.statements = 0

    def _count_steps(self) -> int:
        self._ticks += 1
        return 0

    # -- DBAPI entry point ----------------------------------------------------------------------
    def connect(self, application_name: str, client_addr: str) -> SimulatedConnection:
        kernel = self.kernel
        waits = kernel.in_task()
        network, auth = self._jitters()
        if waits:
            kernel.sleep(self.model.connect_network_s * network)
        started = kernel.now if waits or self.booted_at is None else self.booted_at
        backend = Backend(
            pid=next(self._pids),
            application_name=application_name,
            client_addr=client_addr,
            backend_start=started,
            state_change=started,
            lock_timeout_s=self.model.lock_timeout_s,
        )
        self.backends[backend.pid] = backend
        if waits:
            kernel.sleep(self.model.connect_auth_s * auth)
            backend.state_change = kernel.now
        return SimulatedConnection(self, backend)

    def _jitters(self) -> tuple[float, float]:
        """The next pair of cost factors (CPU, network), drawn in batches."""
        if not self._jitter:
            draw, model = self.rng.lognormvariate, self.model
            self._jitter = [
                (draw(0.0, model.cpu_jitter_sigma), draw(0.0, model.round_trip_jitter_sigma))
                for _ in range(2048)
            ]
        return self._jitter.pop()

    # -- statement execution --------------------------------------------------------------------
    def execute(
        self, backend: Backend, cursor: sqlite3.Cursor, sql: str, params: Any, many: bool
    ) -> list[Any]:
        kernel = self.kernel
        now = kernel.now
        if backend.xact_start is None:
            backend.xact_start = now
        forms = statement_forms(sql)
        sql = forms.sqlite
        backend.state = "active"
        backend.query = forms.server
        backend.query_start = now
        backend.state_change = now
        ticks_before = self._ticks
        try:
            plan = locking_plan(sql)
            if plan is not None:
                if many:
                    params = list(params)
                self._lock_rows(backend, plan, params, many)
                sql = plan.statement
            elif sql.lstrip()[:3].upper() == "SET" and self._apply_setting(backend, sql):
                sql = ""  # handled by the server itself; SQLite runs nothing
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
        except sqlite3.Error:
            backend.state = "idle in transaction (aborted)"
            backend.state_change = kernel.now
            self.row_locks.release(backend.pid)  # the error aborted the transaction
            raise
        steps = (self._ticks - ticks_before) * _STEP_GRANULARITY
        model = self.model
        cpu_factor, network_factor = self._jitters()
        cpu = (model.base_cpu_s + steps * model.cpu_per_step_s) * cpu_factor
        written = cursor.rowcount if cursor.description is None and cursor.rowcount > 0 else 0
        self.write_bytes += written * model.write_bytes_per_row
        self.read_bytes += int(steps * model.read_bytes_per_step)
        self.statements += 1
        if kernel.in_task():
            backend.executing = True
            self._serve(cpu, model.round_trip_s * network_factor)
            backend.executing = False
        else:
            self.cpu_seconds += cpu
        backend.state = "idle in transaction"
        backend.state_change = kernel.now
        return rows

    def _lock_rows(self, backend: Backend, plan: LockingPlan, params: Any, many: bool) -> None:
        """Lock the rows the statement touches, in scan order, waiting for each in turn.

        Finding them is the statement's own scan, so its SQLite steps are not counted twice."""
        ticks = self._ticks
        rowids: dict[int, None] = {}
        for one in params if many else (params,):
            for (rowid,) in self.sqlite.execute(plan.keys, one):
                rowids[rowid] = None
        self._ticks = ticks
        timeout = backend.effective_lock_timeout_s
        for rowid in rowids:
            self.row_locks.acquire(backend.pid, RowKey(plan.table, rowid), plan.access, timeout, plan.nowait)

    def _apply_setting(self, backend: Backend, sql: str) -> bool:
        """``SET [SESSION | LOCAL] lock_timeout``: True if ``sql`` was one (now applied)."""
        try:
            setting = lock_timeout_setting(sql)
        except ValueError as error:
            raise InvalidParameterValue(Diagnostic("22023", str(error))) from None
        if setting is None:
            return False
        seconds = self.model.lock_timeout_s if setting.seconds is None else setting.seconds
        if setting.local:
            backend.local_lock_timeout_s = seconds
        else:
            backend.lock_timeout_s = seconds
        return True

    def _serve(self, cpu: float, round_trip: float) -> None:
        """Processor sharing: while more statements run than there are cores, each gets a share.

        The share is re-evaluated every :data:`_QUANTUM_S`, so a long statement speeds up as the
        crowd around it finishes.  A short statement takes one sleep.
        """
        kernel = self.kernel
        cores = self.model.cores
        self.running += 1
        try:
            remaining = cpu
            wait = round_trip
            while True:
                rate = min(1.0, cores / self.running)
                step = min(remaining / rate, _QUANTUM_S)
                kernel.sleep(wait + step)
                wait = 0.0
                served = min(remaining, step * rate)
                self.cpu_seconds += served
                remaining -= served
                if remaining <= 1e-9:
                    return
        finally:
            self.running -= 1

    def end_transaction(self, backend: Backend) -> None:
        backend.state = "idle"
        backend.xact_start = None
        backend.state_change = self.kernel.now
        backend.local_lock_timeout_s = None
        self.row_locks.release(backend.pid)

    def disconnect(self, backend: Backend) -> None:
        """The client closed the connection, or its process died mid-statement: the backend ends
        and its statement stops competing for CPU."""
        if backend.executing:
            backend.executing = False
            self.running -= 1
        backend.closed = True
        self.backends.pop(backend.pid, None)
        self.row_locks.release(backend.pid)

    # -- observation ------------------------------------------------------------------------------
    def activity(self) -> list[Backend]:
        """pg_stat_activity: client backends ordered by pid."""
        return [self.backends[pid] for pid in sorted(self.backends)]

    def wait_event(self, backend: Backend) -> tuple[str | None, str | None]:
        """pg_stat_activity's (wait_event_type, wait_event): a row lock wait, the client's next
        command (any state but active), or nothing (running)."""
        lock = self.row_locks.wait_event(backend.pid)
        if lock is not None:
            return "Lock", lock
        if backend.state != "active":
            return "Client", "ClientRead"
        return None, None


class SimulatedCursor:
    """DBAPI cursor over SQLite whose ``execute`` takes modelled time."""

    arraysize = 1

    def __init__(self, connection: SimulatedConnection) -> None:
        self._connection = connection
        self._cursor = connection.server.sqlite.cursor()
        self._rows: list[Any] = []
        self._position = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def _run(self, sql: str, params: Any, many: bool) -> None:
        connection = self._connection
        self._rows = connection.server.execute(connection.backend, self._cursor, sql, params, many)
        self._position = 0
        self.description = self._cursor.description
        # psycopg reports a SELECT's row count once it has the result; SQLite's cursor says -1.
        self.rowcount = len(self._rows) if self.description is not None else self._cursor.rowcount
        self.lastrowid = self._cursor.lastrowid

    def execute(self, sql: str, params: Any = ()) -> SimulatedCursor:
        self._run(sql, params, many=False)
        return self

    def executemany(self, sql: str, seq: Any) -> SimulatedCursor:
        self._run(sql, seq, many=True)
        return self

    def fetchone(self) -> Any:
        if self._position < len(self._rows):
            row = self._rows[self._position]
            self._position += 1
            return row
        return None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows = self._rows[self._position : self._position + size]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._position :]
        self._position = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows = []
        self._cursor.close()


class SimulatedConnection:
    """DBAPI connection: one backend of :class:`SimulatedPostgres`."""

    def __init__(self, server: SimulatedPostgres, backend: Backend) -> None:
        self.server = server
        self.backend = backend

    def cursor(self) -> SimulatedCursor:
        return SimulatedCursor(self)

    def commit(self) -> None:
        self.server.end_transaction(self.backend)

    def rollback(self) -> None:
        self.server.end_transaction(self.backend)

    def close(self) -> None:
        self.server.disconnect(self.backend)

    def __getattr__(self, name: str) -> Any:
        # Dialect set-up (create_function, isolation level queries) goes to the real SQLite connection.
        return getattr(self.server.sqlite, name)


def _postgres_limit_clause(compiler: SQLiteCompiler, select: Any, **kw: Any) -> str:
    """PostgreSQL's ``LIMIT``: no ``OFFSET 0`` when the query sets none, as SQLite's compiler adds."""
    if select._limit_clause is not None and select._offset_clause is None:
        return "\n LIMIT " + compiler.process(select._limit_clause, **kw)
    return SQLiteCompiler.limit_clause(compiler, select, **kw)


def speak_postgres(engine: Engine) -> None:
    """Compile ``engine``'s statements as PostgreSQL's dialect renders them where SQLite's differs:
    ``LIMIT`` without ``OFFSET 0`` (text the service's spans show) and ``with_for_update()`` (which
    SQLite's compiler drops, and the simulated server locks rows for).

    The compiler class keeps its module and name, so nothing the service logs names the simulator.
    """
    base = engine.dialect.statement_compiler
    identity = {"__module__": base.__module__, "__qualname__": base.__qualname__}
    engine.dialect.statement_compiler = type(
        base.__name__,
        (base,),
        {
            "limit_clause": _postgres_limit_clause,
            "for_update_clause": PGCompiler.for_update_clause,
            **identity,
        },
    )


class SpeakPostgresPlugin(CreateEnginePlugin):
    """``create_engine(..., plugins=[SPEAK_POSTGRES])``: :func:`speak_postgres` on every engine the
    service builds from its engine options, before it compiles a statement."""

    def update_url(self, url: Any) -> Any:
        return url  # nothing in the URL is the plugin's

    def engine_created(self, engine: Engine) -> None:
        speak_postgres(engine)


SPEAK_POSTGRES = "simulated_postgres_dialect"
plugins.register(SPEAK_POSTGRES, __name__, SpeakPostgresPlugin.__name__)
