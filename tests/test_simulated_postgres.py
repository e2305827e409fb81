"""The simulated PostgreSQL's statement text: psycopg's form in the service, PostgreSQL's on the server,
while SQLite runs the same statement with the same parameters underneath."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, text

from simulator.kernel import Kernel
from simulator.postgres import PARAMSTYLE, statement_forms
from tests.test_virtual_pool import make_engine


def test_pyformat_text_becomes_sqlite_named_and_server_numbered():
    forms = statement_forms(
        "SELECT t.id FROM t WHERE t.a = %(a_1)s AND t.b IN (%(b_1_1)s, %(b_1_2)s)"
        " AND t.c LIKE '%%x' AND t.d = %(a_1)s LIMIT %(param_1)s"
    )
    assert forms.sqlite == (
        "SELECT t.id FROM t WHERE t.a = :a_1 AND t.b IN (:b_1_1, :b_1_2) AND t.c LIKE '%x' AND t.d = :a_1 LIMIT :param_1"
    )
    # psycopg 3 binds server-side: each parameter once, numbered in order of first appearance.
    assert forms.server == (
        "SELECT t.id FROM t WHERE t.a = $1 AND t.b IN ($2, $3) AND t.c LIKE '%x' AND t.d = $1 LIMIT $4"
    )


def test_text_without_parameters_is_unchanged():
    assert statement_forms("SELECT 1") == ("SELECT 1", "SELECT 1")


def test_the_service_sees_psycopg_text_the_server_postgres_text_and_the_rows_are_real():
    kernel = Kernel(start=0.0)
    engine, server = make_engine(kernel, paramstyle=PARAMSTYLE)
    seen_by_service: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen_by_service.append(args[2]))
    table = Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(50)))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"name": "alpha"}, {"name": "beta%"}, {"name": "gamma"}])
    observed: dict[str, object] = {}

    def request() -> None:
        with engine.connect() as conn:
            observed["ids"] = conn.scalars(
                select(table.c.id).where(table.c.name.in_(["alpha", "gamma"])).order_by(table.c.id)
            ).all()
            observed["literal"] = conn.scalar(text("SELECT count(*) FROM items WHERE name = 'beta%'"))
            observed["query"] = server.activity()[0].query
            observed["state"] = server.activity()[0].state

    kernel.spawn(request)
    kernel.run(until=10.0)
    assert observed["ids"] == [1, 3]
    assert observed["literal"] == 1  # SQLAlchemy's escaped '%%' reached SQLite as one percent sign
    assert observed["state"] == "idle in transaction"
    assert observed["query"] == "SELECT count(*) FROM items WHERE name = 'beta%'"
    in_query = next(statement for statement in seen_by_service if " IN (" in statement)
    assert "items.name IN (%(name_1_1)s, %(name_1_2)s)" in in_query
    assert not any("?" in statement for statement in seen_by_service)
