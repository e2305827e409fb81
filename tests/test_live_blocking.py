"""Live mode's pg_stat_activity snapshots carry pg_blocking_pids from the real PostgreSQL, in the form
the simulated server writes, so a live recording's Database view draws the same blocking tree."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from live.postgres_instance import PgActivity, libpq_url
from observability_ui.views.blocking import flatten
from observability_ui.views.database import blocking_at
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter


def _waiting(activity: PgActivity, application: str) -> list[tuple]:
    """A snapshot once ``application``'s session waits on a lock (within 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = activity.sessions()
        if any(row[4] == application and row[11] == "Lock" for row in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{application} never waited on a lock")


def test_a_live_snapshot_records_who_blocks_whom_and_the_view_draws_it(
    postgres_url: str, tmp_path: Path
) -> None:
    url = libpq_url(postgres_url)
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE users (id int PRIMARY KEY, name text)")
        setup.execute("INSERT INTO users VALUES (1, 'a')")
    activity = PgActivity(postgres_url)
    with (
        psycopg.connect(url, application_name="holder") as holder,
        psycopg.connect(url, autocommit=True, application_name="saver") as saver,
    ):
        holder.execute("SELECT * FROM users WHERE id = 1 FOR UPDATE")
        save = threading.Thread(target=saver.execute, args=("UPDATE users SET name = 'b' WHERE id = 1",))
        save.start()
        try:
            rows = _waiting(activity, "saver")
        finally:
            holder.rollback()
            save.join(timeout=10)
        activity.close()
    by_application = {row[4]: row for row in rows}
    holder_pid, saver_pid = by_application["holder"][1], by_application["saver"][1]
    assert by_application["holder"][10] == "idle in transaction" and by_application["holder"][14] is None
    assert (
        by_application["saver"][12] == "transactionid" and by_application["saver"][14] == f"{{{holder_pid}}}"
    )

    writer = DatasetWriter(tmp_path / "dataset")
    writer.add_db_sessions(rows)
    snapshot = rows[0][0]
    with Dataset.open(writer.finish({"window_start": snapshot, "window_end": snapshot})) as dataset:
        (tree,) = blocking_at(dataset.connection, snapshot)
    assert [(depth, node["pid"]) for depth, node in flatten(tree)] == [(0, holder_pid), (1, saver_pid)]
    assert tree["application_name"] == "holder" and tree["waiters"][0]["wait_event_type"] == "Lock"
