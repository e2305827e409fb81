"""postgres_exporter's metric families, built from what a PostgreSQL server reports.

Engine-neutral: the simulated server (``simulator.host_metrics``) and live mode's collector over a
real PostgreSQL (``live.postgres_instance``) report through these builders, so both have the same
names, labels and help text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

PG_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")


def pg_activity_families(
    datname: str, sessions: Iterable[tuple[str, float | None]], now: float, max_connections: int
) -> Iterable[Metric]:
    """postgres_exporter's pg_stat_activity and max_connections families from (state, xact_start) rows.

    Shared by the simulated server and live mode's collector over a real PostgreSQL, so both
    report the same names, labels and help text.  States outside ``PG_STATES`` are not counted.
    """
    counts = dict.fromkeys(PG_STATES, 0)
    oldest = dict.fromkeys(PG_STATES, 0.0)
    for state, xact_start in sessions:
        if state not in counts:
            continue
        counts[state] += 1
        if xact_start is not None:
            oldest[state] = max(oldest[state], now - xact_start)
    count = GaugeMetricFamily(
        "pg_stat_activity_count", "Number of connections in this state.", labels=["datname", "state"]
    )
    age = GaugeMetricFamily(
        "pg_stat_activity_max_tx_duration",
        "Max duration in seconds any active transaction has been running.",
        labels=["datname", "state"],
    )
    for state in PG_STATES:
        count.add_metric([datname, state], counts[state])
        age.add_metric([datname, state], round(oldest[state], 3))
    maximum = GaugeMetricFamily("pg_settings_max_connections", "Server parameter max_connections.")
    maximum.add_metric([], max_connections)
    return [count, age, maximum]


def pg_locks_families(datname: str, counts: Mapping[str, int]) -> Iterable[Metric]:
    """postgres_exporter's ``pg_locks_count{datname,mode}`` from per-mode counts (lower-case mode
    names, as :meth:`simulator.row_locks.RowLocks.mode_counts` gives them: every mode, zero too).

    Not part of :class:`simulator.host_metrics.InfrastructureCollector`'s scrape: adding a family there would add series to
    every dataset, so a scenario that needs lock counts registers it."""
    family = GaugeMetricFamily("pg_locks_count", "Number of locks", labels=["datname", "mode"])
    for mode, count in counts.items():
        family.add_metric([datname, mode], count)
    return [family]
