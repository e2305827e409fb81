"""What a production stack reports about its Redis: redis_exporter's metrics and the shipped slowlog.

:class:`RedisExporter` is scraped with the other collectors: ``INFO``-style figures under
redis_exporter's names (clients, commands and their cumulative server-side time per command, keys,
memory, main-thread CPU, slowlog length).  :meth:`RedisExporter.ship_slowlog` runs at every scrape,
as a slowlog shipper polling ``SLOWLOG GET`` does, and turns each new entry into a log record of
service ``redis``; the record is stamped when shipped and carries the command's own start time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from simulator.redis_server import RedisServer

_MAX_ARGS = 32  # SLOWLOG keeps at most 32 arguments and 128 bytes of each
_MAX_ARG_BYTES = 128


def _slowlog_command(args: tuple[str, ...]) -> str:
    shown = [
        arg
        if len(arg) <= _MAX_ARG_BYTES
        else f"{arg[:_MAX_ARG_BYTES]}... ({len(arg) - _MAX_ARG_BYTES} more bytes)"
        for arg in args[:_MAX_ARGS]
    ]
    if len(args) > _MAX_ARGS:
        shown[-1] = f"... ({len(args) - _MAX_ARGS + 1} more arguments)"
    return " ".join(shown)


class RedisExporter(Collector):
    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self._shipped_id = -1

    def collect(self) -> Iterable[Metric]:
        server = self.server
        host = server.model.host_name
        yield _gauge("redis_up", "Information about the Redis instance.", 1, host)
        yield _gauge(
            "redis_connected_clients", "Number of client connections.", server.connected_clients, host
        )
        yield _counter(
            "redis_commands_processed",
            "Total number of commands processed by the server.",
            server.processed,
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
        for name in sorted(server.calls):
            calls.add_metric([host, name.lower()], server.calls[name])
            seconds.add_metric([host, name.lower()], round(server.seconds[name], 9))
        yield calls
        yield seconds
        yield _counter(
            "redis_cpu_user_main_thread_seconds",
            "CPU time of the main thread (the one executing commands).",
            round(server.busy_seconds, 9),
            host,
        )
        keys = GaugeMetricFamily("redis_db_keys", "Total number of keys by DB.", labels=["instance", "db"])
        keys.add_metric([host, "db0"], server.dbsize())
        yield keys
        expiring = GaugeMetricFamily(
            "redis_db_keys_expiring", "Total number of expiring keys by DB.", labels=["instance", "db"]
        )
        expiring.add_metric([host, "db0"], server.expiring_keys())
        yield expiring
        yield _gauge(
            "redis_memory_used_bytes", "Total memory used by Redis.", server.used_memory_bytes(), host
        )
        yield _gauge("redis_slowlog_length", "Total slowlog entries.", len(server.slowlog), host)
        last = server.slowlog[0].duration_s if server.slowlog else 0.0
        yield _gauge(
            "redis_slowlog_last_slow_execution_duration_seconds",
            "The amount of time needed for the last slow execution, in seconds.",
            round(last, 6),
            host,
        )

    def ship_slowlog(self) -> list[dict[str, Any]]:
        """The slowlog entries added since the last call, oldest first, as log records."""
        server = self.server
        new = [entry for entry in server.slowlog if entry.id > self._shipped_id]
        if new:
            self._shipped_id = new[0].id
        return [
            {
                "service": "redis",
                "host": server.model.host_name,
                "level": "warning",
                "logger": "redis.slowlog",
                "message": f"slowlog: {_slowlog_command(entry.args)}",
                "redis.slowlog.id": entry.id,
                "redis.command": entry.args[0].upper(),
                "duration_us": round(entry.duration_s * 1e6),
                "client.address": entry.client_addr,
                "started_at": datetime.fromtimestamp(entry.started, UTC).isoformat(timespec="microseconds"),
            }
            for entry in reversed(new)
        ]


def _gauge(name: str, documentation: str, value: float, host: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["instance"])
    family.add_metric([host], value)
    return family


def _counter(name: str, documentation: str, value: float, host: str) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=["instance"])
    family.add_metric([host], value)
    return family
