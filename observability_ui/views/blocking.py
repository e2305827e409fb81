"""Who blocks whom in one ``pg_stat_activity`` snapshot: the blocking tree monitoring tools draw.

Each session's ``blocked_by`` is ``pg_blocking_pids(pid)`` as PostgreSQL prints an int array.  A
tree's root is a session that blocks others and waits on no one (typically a transaction idle
while it holds row locks); beneath it, the sessions waiting on it, then those waiting on them.  A
waiter blocked by several sessions of one tree is shown once, at its shallowest place (its
``blocked_by`` names them all); one blocked from two trees is in both.  A deadlock, until
PostgreSQL's check ends it, is a cycle with no such root: one of its sessions heads the tree, so
no waiting session goes unshown, and a session already in a tree is never visited again, so a cycle
ends.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

Session = Mapping[str, Any]
Node = dict[str, Any]

# What a node tells of its session; a blocker missing from the snapshot (another database's backend,
# the monitor itself) has its pid only.
NODE_COLUMNS = ("pid", "state", "application_name", "usename", "wait_event_type", "wait_event", "query")


def parse_pids(text: str | None) -> list[int]:
    """``{123,456}``, PostgreSQL's text form of an int array, as ints; NULL or ``{}`` is none."""
    return [int(part) for part in (text or "").strip("{}").split(",") if part]


def blocking_trees(sessions: Iterable[Session], at: float) -> list[Node]:
    """The snapshot's blocking trees, the one holding up the most sessions first.  ``sessions`` are
    rows of ``db_sessions`` as mappings with ``blocked_by`` already a list of pids; ``at`` is the
    snapshot's time, from which ages are counted."""
    by_pid = {session["pid"]: session for session in sessions}
    waiters_of: dict[int, list[Session]] = defaultdict(list)
    for session in by_pid.values():
        for blocker in session["blocked_by"]:
            waiters_of[blocker].append(session)
    for waiters in waiters_of.values():
        waiters.sort(key=lambda s: (s["state_change"], s["pid"]))  # the longest waiting first
    blocked = sorted(pid for pid, session in by_pid.items() if session["blocked_by"])
    roots = [pid for pid in sorted(waiters_of) if pid not in by_pid or not by_pid[pid]["blocked_by"]]
    trees = [_tree(pid, by_pid, waiters_of, at) for pid in roots]
    shown = {node["pid"] for tree in trees for _, node in flatten(tree)}
    for pid in blocked:  # what no root reaches waits in, or behind, a cycle
        if pid not in shown:
            tree = _tree(_on_cycle(pid, by_pid), by_pid, waiters_of, at)
            shown.update(node["pid"] for _, node in flatten(tree))
            trees.append(tree)
    return sorted(trees, key=lambda tree: (-tree["waiter_count"], tree["pid"]))


def _on_cycle(pid: int, by_pid: Mapping[int, Session]) -> int:
    """A session on the cycle that ``pid`` waits in or behind, found by following first blockers
    until one repeats (every session on the way waits, or it would have been reached from a root)."""
    seen: set[int] = set()
    while pid not in seen:
        seen.add(pid)
        pid = by_pid[pid]["blocked_by"][0]
    return pid


def _tree(
    root: int, by_pid: Mapping[int, Session], waiters_of: Mapping[int, list[Session]], at: float
) -> Node:
    """The tree under ``root``, breadth first so each waiter hangs at its shallowest place."""
    top = _node(by_pid.get(root, {"pid": root}), at)
    placed = {root}
    order = [top]
    queue = deque(order)
    while queue:
        node = queue.popleft()
        for waiter in waiters_of.get(node["pid"], ()):
            if waiter["pid"] not in placed:
                placed.add(waiter["pid"])
                child = _node(waiter, at)
                node["waiters"].append(child)
                order.append(child)
                queue.append(child)
    for node in reversed(order):  # children before their parent
        node["waiter_count"] = sum(1 + child["waiter_count"] for child in node["waiters"])
    return top


def _node(session: Session, at: float) -> Node:
    """A session as the tree shows it: who it is, what it runs and waits on, and since when."""
    xact_start, state_change = session.get("xact_start"), session.get("state_change")
    blocked_by = session.get("blocked_by", [])
    return {
        **{column: session.get(column) for column in NODE_COLUMNS},
        "blocked_by": blocked_by,
        "xact_age": None if xact_start is None else at - xact_start,
        # A waiting session is active in the statement that waits: it has waited since it went active.
        "waiting": at - state_change if blocked_by and state_change is not None else None,
        "waiter_count": 0,
        "waiters": [],
    }


def flatten(tree: Node) -> Iterator[tuple[int, Node]]:
    """(depth, node) in the order a nested list reads, the root at depth 0; without recursion, as a
    chain of waiters can be as long as the snapshot."""
    stack = [(0, tree)]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        stack.extend((depth + 1, child) for child in reversed(node["waiters"]))
