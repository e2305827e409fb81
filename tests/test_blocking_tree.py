"""The Database view's blocking tree, built from ``db_sessions`` rows as pg_blocking_pids gives them."""

from __future__ import annotations

from typing import Any

import pytest

from observability_ui.views.blocking import blocking_trees, flatten, parse_pids

AT = 1000.0


def session(pid: int, *blocked_by: int, state_change: float = 900.0, **columns: Any) -> dict[str, Any]:
    """A db_sessions row: waiting (active, on a row lock) when ``blocked_by`` names anyone, else idle
    in a transaction."""
    waiting = bool(blocked_by)
    return {
        "pid": pid,
        "state": "active" if waiting else "idle in transaction",
        "application_name": "api",
        "usename": "app",
        "wait_event_type": "Lock" if waiting else "Client",
        "wait_event": "transactionid" if waiting else "ClientRead",
        "query": f"UPDATE users SET n = {pid}" if waiting else "SELECT * FROM users FOR UPDATE",
        "xact_start": 800.0,
        "state_change": state_change,
        "blocked_by": list(blocked_by),
        **columns,
    }


def shape(tree: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(depth, pid, waiter_count) of every node in reading order."""
    return [(depth, node["pid"], node["waiter_count"]) for depth, node in flatten(tree)]


@pytest.mark.parametrize(
    ("text", "pids"), [("{123,456}", [123, 456]), ("{7}", [7]), ("{}", []), (None, []), ("", [])]
)
def test_blocked_by_is_read_as_postgresql_prints_an_int_array(text: str | None, pids: list[int]) -> None:
    assert parse_pids(text) == pids


def test_no_tree_when_no_session_waits_on_another() -> None:
    assert blocking_trees([session(1), session(2, state="idle")], AT) == []


def test_a_chain_nests_each_waiter_under_the_session_it_waits_on() -> None:
    (tree,) = blocking_trees([session(3, 2), session(1), session(2, 1)], AT)
    assert shape(tree) == [(0, 1, 2), (1, 2, 1), (2, 3, 0)]
    assert tree["state"] == "idle in transaction" and tree["xact_age"] == 200.0 and tree["waiting"] is None
    waiter = tree["waiters"][0]
    assert waiter["blocked_by"] == [1] and waiter["wait_event"] == "transactionid"
    assert waiter["waiting"] == 100.0  # active in the waiting statement since its state_change


def test_roots_come_most_waiters_first_and_waiters_longest_waiting_first() -> None:
    rows = [
        session(10),
        session(11, 10),
        session(20),
        session(21, 20, state_change=950.0),
        session(22, 20, state_change=920.0),
        session(30, state="idle"),
    ]
    first, second = blocking_trees(rows, AT)
    assert shape(first) == [(0, 20, 2), (1, 22, 0), (1, 21, 0)]
    assert shape(second) == [(0, 10, 1), (1, 11, 0)]


def test_a_waiter_blocked_by_two_sessions_shows_once_per_tree_at_its_shallowest_place() -> None:
    # 3 queues behind 2 (tuple) and waits on 1 as well; 5 waits on both roots 1 and 4.
    rows = [session(1), session(2, 1), session(3, 1, 2), session(4), session(5, 1, 4)]
    first, second = blocking_trees(rows, AT)
    assert shape(first) == [(0, 1, 3), (1, 2, 0), (1, 3, 0), (1, 5, 0)]
    assert shape(second) == [(0, 4, 1), (1, 5, 0)]
    assert first["waiters"][1]["blocked_by"] == [1, 2]


def test_a_deadlock_cycle_is_shown_once_headed_by_one_of_its_sessions() -> None:
    # 1 and 2 wait on each other (until the deadlock check ends one); 3 waits on 2, 4 on 3.
    rows = [session(1, 2), session(2, 1), session(3, 2), session(4, 3)]
    (tree,) = blocking_trees(rows, AT)
    assert shape(tree) == [(0, 1, 3), (1, 2, 2), (2, 3, 1), (3, 4, 0)]
    assert tree["blocked_by"] == [2] and tree["waiting"] == 100.0, "its head waits too, and says on whom"
    # Behind a cycle (1 waits on 3; 2 and 3 on each other): the head is on the cycle, not behind it.
    (tree,) = blocking_trees([session(1, 3), session(2, 3), session(3, 2)], AT)
    assert shape(tree) == [(0, 3, 2), (1, 1, 0), (1, 2, 0)]


def test_a_blocker_outside_the_snapshot_heads_its_tree_with_its_pid_alone() -> None:
    (tree,) = blocking_trees([session(5, 99)], AT)
    assert shape(tree) == [(0, 99, 1), (1, 5, 0)]
    assert tree["state"] is None and tree["query"] is None and tree["xact_age"] is None


def test_a_long_chain_is_built_and_read_without_recursion() -> None:
    rows = [session(1)] + [session(pid, pid - 1) for pid in range(2, 3001)]
    (tree,) = blocking_trees(rows, AT)
    assert tree["waiter_count"] == 2999
    assert [depth for depth, _ in flatten(tree)] == list(range(3000))
