"""Symptom figures of a dataset: what an on-call engineer would read off the dashboards.

Used for a scenario's readiness assertions (a generated dataset must show its incident before it
is served) and for the summary printed after generation.  Every figure is computed from the
scraped metrics, as a dashboard would compute it.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    requests: int
    server_error_ratio: float
    hourly_latency_ratios: tuple[float, ...]  # per full hour: mean latency hh:00-hh:03 / median other minutes
    peak_pool_used: float
    pool_max: float
    peak_idle_in_transaction: float
    peak_db_cpu: float
    pool_timeouts: float
    max_p95_latency_s: float  # the highest p95 of all requests over any 5 minutes (from the histogram)
    peak_request_queue: float  # requests accepted by the web server and waiting for a worker thread
    worker_oom_kills: float  # the app container's out-of-memory kills over the window
    peak_email_outbox_age: float  # seconds the oldest outbound email had waited, at its peak
    peak_statements_per_request: float  # database statements per request, the highest over any 5 minutes

    def value(self, name: str) -> float:
        return {
            "min_hourly_latency_ratio": min(self.hourly_latency_ratios, default=0.0),
            "max_hourly_latency_ratio": max(self.hourly_latency_ratios, default=0.0),
            "peak_pool_used_ratio": self.peak_pool_used / self.pool_max if self.pool_max else 0.0,
            "max_server_error_ratio": self.server_error_ratio,
            "peak_idle_in_transaction": self.peak_idle_in_transaction,
            "max_p95_latency_s": self.max_p95_latency_s,
            "peak_request_queue_length": self.peak_request_queue,
            "worker_oom_kills": self.worker_oom_kills,
            "peak_email_outbox_age_seconds": self.peak_email_outbox_age,
            "peak_db_statements_per_request": self.peak_statements_per_request,
        }[name]


def _series(db: sqlite3.Connection, sample_name: str) -> dict[str, list[tuple[float, float]]]:
    rows = db.execute(
        "SELECT s.labels, m.ts, m.value FROM metric_samples m JOIN metric_series s ON s.id = m.series_id"
        " WHERE s.sample_name = ? ORDER BY s.labels, m.ts",
        (sample_name,),
    )
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for labels, ts, value in rows:
        out[labels].append((ts, value))
    return out


def _per_minute_totals(
    series: dict[str, list[tuple[float, float]]], keep=lambda labels: True
) -> dict[int, float]:
    """Increase of summed counters per minute (minute = epoch minute of the scrape that ends it).

    A counter that went down was reset (its process restarted, e.g. by a deploy) and counts again
    from zero, as Prometheus's ``increase`` reads it."""
    totals: dict[int, float] = defaultdict(float)
    for labels, points in series.items():
        if not keep(json.loads(labels)):
            continue
        previous = 0.0
        for ts, value in points:
            totals[int(ts // 60) - (1 if ts % 60 == 0 else 0)] += (
                value - previous if value >= previous else value
            )
            previous = value
    return totals


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``histogram_quantile``: linear interpolation inside the bucket holding rank q, from cumulative
    ``(upper bound, count)`` pairs sorted by bound (the last one ``+Inf``)."""
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else lower
        lower, below = bound, count
    return lower


def _max_p95(series: dict[str, list[tuple[float, float]]], minutes: int = 5) -> float:
    """The highest p95 latency of all requests over any ``minutes`` consecutive minutes."""
    per_bound: dict[float, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for labels, points in series.items():
        bound = float(json.loads(labels)["le"])
        for minute, increase in _per_minute_totals({labels: points}).items():
            per_bound[bound][minute] += increase
    all_minutes = sorted({m for by_minute in per_bound.values() for m in by_minute})
    best = 0.0
    for first in all_minutes:
        span = range(first, first + minutes)
        if span[-1] > all_minutes[-1]:
            break
        buckets = sorted((bound, sum(per_bound[bound].get(m, 0.0) for m in span)) for bound in per_bound)
        if buckets and buckets[-1][1] > 0:
            best = max(best, _quantile(0.95, buckets))
    return round(best, 4)


def _peak_ratio(numerator: dict[int, float], denominator: dict[int, float], minutes: int = 5) -> float:
    """The highest ratio of two per-minute totals summed over any ``minutes`` consecutive minutes."""
    best = 0.0
    for first in sorted(denominator):
        span = range(first, first + minutes)
        if span[-1] not in denominator:
            continue
        below = sum(denominator.get(m, 0.0) for m in span)
        if below > 0:
            best = max(best, sum(numerator.get(m, 0.0) for m in span) / below)
    return round(best, 3)


def compute(db: sqlite3.Connection) -> Figures:
    counts = _series(db, "http_server_request_duration_seconds_count")
    sums = _series(db, "http_server_request_duration_seconds_sum")
    count_per_minute = _per_minute_totals(counts)
    sum_per_minute = _per_minute_totals(sums)
    requests = sum(count_per_minute.values())
    errors = sum(
        _per_minute_totals(
            counts, lambda labels: labels["http_response_status_code"].startswith("5")
        ).values()
    )
    mean = {m: sum_per_minute[m] / n for m, n in count_per_minute.items() if n > 0}
    hours: dict[int, dict[int, float]] = defaultdict(dict)
    for minute, value in mean.items():
        hours[minute // 60][minute % 60] = value
    ratios = []
    for hour in sorted(hours):
        minutes = hours[hour]
        if len(minutes) < 55:
            continue  # a partial hour at the window's edge
        storm = [minutes[m] for m in (0, 1, 2) if m in minutes]
        rest = [v for m, v in minutes.items() if m >= 3]
        if storm and rest:
            ratios.append(round(statistics.fmean(storm) / statistics.median(rest), 3))

    def peak(sample_name: str, keep=lambda labels: True) -> float:
        return max(
            (
                v
                for labels, points in _series(db, sample_name).items()
                if keep(json.loads(labels))
                for _, v in points
            ),
            default=0.0,
        )

    timeouts = _series(db, "db_client_connection_timeouts_total")
    return Figures(
        requests=int(requests),
        server_error_ratio=round(errors / requests, 4) if requests else 0.0,
        hourly_latency_ratios=tuple(ratios),
        peak_pool_used=peak(
            "db_client_connection_count", lambda lb: lb["db_client_connection_state"] == "used"
        ),
        pool_max=peak("db_client_connection_max"),
        peak_idle_in_transaction=peak(
            "pg_stat_activity_count", lambda lb: lb["state"] == "idle in transaction"
        ),
        peak_db_cpu=peak("system_cpu_utilization_ratio", lambda lb: lb["host_name"] == "db-1"),
        pool_timeouts=sum(_per_minute_totals(timeouts).values()),
        max_p95_latency_s=_max_p95(_series(db, "http_server_request_duration_seconds_bucket")),
        peak_request_queue=peak("webserver_request_queue_length"),
        worker_oom_kills=sum(_per_minute_totals(_series(db, "container_oom_events_total")).values()),
        peak_email_outbox_age=peak("email_outbox_oldest_pending_age_seconds"),
        peak_statements_per_request=_peak_ratio(
            _per_minute_totals(_series(db, "db_client_operation_duration_seconds_count")), count_per_minute
        ),
    )


def readiness_failures(readiness: tuple, figures: Figures) -> list[str]:
    """The scenario's readiness assertions this dataset does not meet, described."""
    failures = []
    for check in readiness:
        value = figures.value(check.figure)
        if check.min is not None and value < check.min:
            failures.append(f"{check.figure} is {value:.3g}, expected at least {check.min:g}")
        if check.max is not None and value > check.max:
            failures.append(f"{check.figure} is {value:.3g}, expected at most {check.max:g}")
    return failures
