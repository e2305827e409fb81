"""SQLAlchemy's own QueuePool logic with waits in virtual time, over the simulated PostgreSQL."""

import random

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import QueuePool

from simulator.kernel import Kernel
from simulator.postgres import DatabaseServerModel, SimulatedPostgres
from simulator.virtual_pool import virtual_pool_class


def make_engine(kernel: Kernel, size: int = 2, timeout: float = 10.0, **engine_options):
    server = SimulatedPostgres(kernel, DatabaseServerModel(), random.Random(1))
    engine = create_engine(
        "sqlite://",
        creator=lambda: server.connect("test-app", "10.0.0.1"),
        poolclass=virtual_pool_class(kernel, QueuePool, random.Random(2)),
        pool_size=size,
        max_overflow=0,
        pool_timeout=timeout,
        **engine_options,
    )
    with engine.connect() as conn:  # first connect outside any task, as the simulator does
        conn.execute(text("SELECT 1"))
    return engine, server


def test_waiter_times_out_after_the_pool_timeout_with_sqlalchemys_own_error():
    kernel = Kernel(start=0.0)
    engine, _ = make_engine(kernel, size=2, timeout=10.0)
    outcome: list[object] = []

    def hold(seconds: float) -> None:
        with engine.connect():
            kernel.sleep(seconds)

    def wait_for_connection() -> None:
        try:
            with engine.connect():
                outcome.append(("got", kernel.now))
        except exc.TimeoutError as error:
            outcome.append((str(error).split(" (Background")[0], kernel.now))

    kernel.spawn(hold, 30.0)
    kernel.spawn(hold, 30.0)
    kernel.spawn(wait_for_connection, delay=1.0)
    kernel.run(until=100.0)
    ((message, at),) = outcome
    assert message == "QueuePool limit of size 2 overflow 0 reached, connection timed out, timeout 10.00"
    assert at == 11.0


def test_connections_are_handed_to_waiters_first_in_first_out():
    kernel = Kernel(start=0.0)
    engine, _ = make_engine(kernel, size=1, timeout=60.0)
    order: list[tuple[str, float]] = []

    def user(name: str, hold_for: float) -> None:
        with engine.connect():
            order.append((name, kernel.now))
            kernel.sleep(hold_for)

    kernel.spawn(user, "first", 5.0)
    for i, name in enumerate(["a", "b", "c"]):
        kernel.spawn(user, name, 5.0, delay=1.0 + i)
    kernel.run(until=100.0)
    assert [name for name, _ in order] == ["first", "a", "b", "c"]
    # a checkout from a free pool takes its few microseconds; a waiter gets the returned connection
    assert [at for _, at in order] == pytest.approx([0.0, 5.0, 10.0, 15.0], abs=0.01)
    assert order[0][1] > 0


def test_checked_out_connection_stays_idle_in_transaction_until_returned():
    kernel = Kernel(start=1000.0)
    engine, server = make_engine(kernel, size=3)
    kept = []

    def open_and_keep() -> None:
        conn = engine.connect()
        conn.execute(text("SELECT 1"))
        kept.append(conn)  # a strong reference: never returned to the pool

    kernel.spawn(open_and_keep)
    kernel.run(until=1060.0)
    states = [b.state for b in server.activity()]
    assert states.count("idle in transaction") == 1
    leaked = next(b for b in server.activity() if b.state == "idle in transaction")
    assert leaked.xact_start == pytest.approx(1000.0)
    assert engine.pool.checkedout() == 1
    kept[0].close()
    assert [b.state for b in server.activity()].count("idle in transaction") == 0


def test_concurrent_statements_beyond_the_cores_are_slowed_down():
    kernel = Kernel(start=0.0)
    engine, server = make_engine(kernel, size=40)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES " + ",".join(f"({i})" for i in range(3000))))
    durations: dict[int, list[float]] = {1: [], 32: []}

    def query(bucket: int) -> None:
        with engine.connect() as conn:
            started = kernel.now
            conn.execute(text("SELECT sum(x * x) FROM t")).scalar()
            durations[bucket].append(kernel.now - started)

    kernel.spawn(query, 1)
    kernel.run(until=10.0)
    for _ in range(32):
        kernel.spawn(query, 32)
    kernel.run(until=100.0)
    cores = server.model.cores
    assert max(durations[32]) > durations[1][0] * (32 / cores) * 0.8


def test_the_virtual_pool_logs_under_the_services_own_pool_class():
    """SQLAlchemy names a pool's logger after its class: the records must not name the simulator."""
    from sqlalchemy import log

    from platform_api.lib.database.pool import ObservedQueuePool

    virtual = virtual_pool_class(Kernel(start=0.0), ObservedQueuePool, random.Random(0))
    assert issubclass(virtual, ObservedQueuePool) and virtual is not ObservedQueuePool
    assert log._qual_logger_name_for_cls(virtual) == "platform_api.lib.database.pool.ObservedQueuePool"


def test_postgres_shows_rows_returned_a_limit_as_written_and_varied_costs():
    from simulator.postgres import speak_postgres

    kernel = Kernel(start=0.0)
    engine, _ = make_engine(kernel, size=2)
    speak_postgres(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
    from sqlalchemy import column, select, table

    statement = select(column("x")).select_from(table("t")).limit(1)
    rendered = str(statement.compile(engine))
    assert "LIMIT" in rendered and "OFFSET" not in rendered
    seen: dict[str, object] = {"durations": []}

    def query() -> None:
        with engine.connect() as conn:
            for _ in range(30):
                started = kernel.now
                result = conn.execute(text("SELECT x FROM t"))
                seen["durations"].append(kernel.now - started)
                seen["rowcount"] = result.rowcount
            seen["limited"] = conn.execute(statement).all()

    kernel.spawn(query)
    kernel.run(until=10.0)
    assert seen["rowcount"] == 3  # as psycopg reports a SELECT's rows
    assert seen["limited"] == [(1,)]
    assert len(set(seen["durations"])) == 30


def test_a_connection_takes_time_to_open_and_its_backend_starts_partway():
    kernel = Kernel(start=100.0)
    engine, server = make_engine(kernel, size=1)
    opened: list[float] = []

    def connect() -> None:
        started = kernel.now
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT 1"))
            opened.append(kernel.now - started)

    engine.pool.dispose()
    kernel.spawn(connect, delay=5.0)
    kernel.run(until=120.0)
    (backend,) = server.activity()
    assert 105.0 < backend.backend_start < 105.0 + opened[0]
    assert opened[0] > 0.002
