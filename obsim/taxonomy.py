"""The short taxonomy of failure mechanisms a candidate picks from and a ground truth is written in.

Mechanism level, not symptom level: "the database is slow" is a symptom; why the database is slow
is the mechanism.  Neighbouring kinds earn partial credit (a leak exhausts a pool; calling it
exhaustion is half right).
"""

from __future__ import annotations

MECHANISMS: dict[str, str] = {
    "resource-leak": "a resource (connection, transaction, file, memory) is taken and never given back",
    "resource-exhaustion": "demand for a bounded resource (pool, threads, CPU) exceeds it, e.g. a burst",
    "contention": "work serialises on a lock or a single-threaded component",
    "retry-storm": "retries without backoff or limits multiply load on a struggling dependency",
    "slow-dependency": "a downstream service or database is slow and callers wait on it",
    "inefficient-query": "queries do more work than needed (N+1, missing index, full scans)",
    "bad-deploy": "a code or configuration change introduced the regression",
    "memory-leak": "process memory grows without bound until it is killed",
    "queue-backlog": "work arrives faster than it is processed, or a message is retried forever",
    "capacity": "the system is simply too small for legitimate load",
}

RELATED: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("resource-leak", "resource-exhaustion"),
        ("resource-leak", "memory-leak"),
        ("resource-exhaustion", "capacity"),
        ("resource-exhaustion", "contention"),
        ("retry-storm", "resource-exhaustion"),
        ("slow-dependency", "retry-storm"),
        ("inefficient-query", "bad-deploy"),
        ("queue-backlog", "retry-storm"),
    )
)


def category(mechanism: str) -> str:
    """The taxonomy id a ground truth's mechanism starts with (``"resource-leak: ..."``)."""
    return mechanism.split(":", 1)[0].strip()
