"""The short taxonomy of failure mechanisms a ground truth is classified in, for the interviewer.

Mechanism level, not symptom level: "the database is slow" is a symptom; why the database is slow
is the mechanism.  The list stays on the interviewer's side (the scenario files, the console, the
guide): a candidate offered it would be answering a multiple-choice question, so they write the
mechanism in their own words and each scenario's ``[ground_truth.mechanism]`` terms recognise it.
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
