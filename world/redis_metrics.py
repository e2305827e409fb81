"""What a production stack reports about its Redis: redis_exporter's metric families and the slowlog
records a slowlog shipper sends.

Engine-neutral: the simulated Redis (``simulator.redis_exporter``) and live mode's real instance
(``live.redis_instance``) both report through these builders, so their telemetry has one shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class SlowlogEntry(NamedTuple):
    id: int
    started: float
    duration_s: float
    args: tuple[str, ...]
    client_addr: str


_MAX_ARGS = 32  # SLOWLOG keeps at most 32 arguments and 128 bytes of each
_MAX_ARG_BYTES = 128


def slowlog_command(args: tuple[str, ...]) -> str:
    shown = [
        arg
        if len(arg) <= _MAX_ARG_BYTES
        else f"{arg[:_MAX_ARG_BYTES]}... ({len(arg) - _MAX_ARG_BYTES} more bytes)"
        for arg in args[:_MAX_ARGS]
    ]
    if len(args) > _MAX_ARGS:
        shown[-1] = f"... ({len(args) - _MAX_ARGS + 1} more arguments)"
    return " ".join(shown)


@dataclass(frozen=True)
class RedisFigures:
    """What redis_exporter reads from an instance's ``INFO`` and slowlog, in its units.

    Built from the simulated server here and from a real server's ``INFO`` in live mode
    (:mod:`live.redis_instance`), so both report under the same names and labels.
    """

    connected_clients: int
    commands_processed: int
    calls: Mapping[str, int]  # per command, lower case, in the order to report
    seconds: Mapping[str, float]  # cumulative server-side time per command
    cpu_user_main_thread_s: float
    keys: Mapping[str, int]  # per database ("db0")
    expiring_keys: Mapping[str, int]
    used_memory_bytes: int
    slowlog_length: int
    last_slow_execution_s: float


def redis_families(host: str, figures: RedisFigures) -> Iterator[Metric]:
    """redis_exporter's metrics for ``figures``, labelled ``instance=host``."""
    yield _gauge("redis_up", "Information about the Redis instance.", 1, host)
    yield _gauge("redis_connected_clients", "Number of client connections.", figures.connected_clients, host)
    yield _counter(
        "redis_commands_processed",
        "Total number of commands processed by the server.",
        figures.commands_processed,
        host,
    )
    calls = CounterMetricFamily(
        "redis_commands", "Total number of calls per command.", labels=["instance", "cmd"]
    )
    seconds = CounterMetricFamily(
        "redis_commands_duration_seconds",
        "Total amount of time in seconds spent per command.",
        labels=["instance", "cmd"],
    )
    for name, count in figures.calls.items():
        calls.add_metric([host, name], count)
        seconds.add_metric([host, name], round(figures.seconds[name], 9))
    yield calls
    yield seconds
    yield _counter(
        "redis_cpu_user_main_thread_seconds",
        "CPU time of the main thread (the one executing commands).",
        round(figures.cpu_user_main_thread_s, 9),
        host,
    )
    keys = GaugeMetricFamily("redis_db_keys", "Total number of keys by DB.", labels=["instance", "db"])
    for db, count in figures.keys.items():
        keys.add_metric([host, db], count)
    yield keys
    expiring = GaugeMetricFamily(
        "redis_db_keys_expiring", "Total number of expiring keys by DB.", labels=["instance", "db"]
    )
    for db, count in figures.expiring_keys.items():
        expiring.add_metric([host, db], count)
    yield expiring
    yield _gauge("redis_memory_used_bytes", "Total memory used by Redis.", figures.used_memory_bytes, host)
    yield _gauge("redis_slowlog_length", "Total slowlog entries.", figures.slowlog_length, host)
    yield _gauge(
        "redis_slowlog_last_slow_execution_duration_seconds",
        "The amount of time needed for the last slow execution, in seconds.",
        round(figures.last_slow_execution_s, 6),
        host,
    )


def slowlog_record(host: str, entry: SlowlogEntry, command: str) -> dict[str, Any]:
    """A slowlog entry as the log record a slowlog shipper sends; ``command`` is the entry's
    command line as ``SLOWLOG GET`` shows it (arguments already truncated)."""
    return {
        "service": "redis",
        "host": host,
        "level": "warning",
        "logger": "redis.slowlog",
        "message": f"slowlog: {command}",
        "redis.slowlog.id": entry.id,
        "redis.command": entry.args[0].upper(),
        "duration_us": round(entry.duration_s * 1e6),
        "client.address": entry.client_addr,
        "started_at": datetime.fromtimestamp(entry.started, UTC).isoformat(timespec="microseconds"),
    }


def _gauge(name: str, documentation: str, value: float, host: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["instance"])
    family.add_metric([host], value)
    return family


def _counter(name: str, documentation: str, value: float, host: str) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=["instance"])
    family.add_metric([host], value)
    return family
