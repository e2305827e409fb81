"""What a production stack reports about its Redis: redis_exporter's metrics and the shipped slowlog.

:class:`RedisExporter` is scraped with the other collectors: ``INFO``-style figures under
redis_exporter's names (clients, commands and their cumulative server-side time per command, keys,
memory, main-thread CPU, slowlog length).  :meth:`RedisExporter.ship_slowlog` runs at every scrape,
as a slowlog shipper polling ``SLOWLOG GET`` does, and turns each new entry into a log record of
service ``redis``; the record is stamped when shipped and carries the command's own start time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from simulator.redis_server import RedisServer
from world.redis_metrics import RedisFigures, redis_families, slowlog_command, slowlog_record


class RedisExporter(Collector):
    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self._shipped_id = -1

    def collect(self) -> Iterable[Metric]:
        server = self.server
        names = sorted(server.calls)
        return redis_families(
            server.model.host_name,
            RedisFigures(
                connected_clients=server.clients(),
                commands_processed=server.processed,
                calls={name.lower(): server.calls[name] for name in names},
                seconds={name.lower(): server.seconds[name] for name in names},
                cpu_user_main_thread_s=server.busy_seconds,
                keys={"db0": server.dbsize()},
                expiring_keys={"db0": server.expiring_keys()},
                used_memory_bytes=server.used_memory_bytes(),
                slowlog_length=len(server.slowlog),
                last_slow_execution_s=server.slowlog[0].duration_s if server.slowlog else 0.0,
            ),
        )

    def ship_slowlog(self) -> list[dict[str, Any]]:
        """The slowlog entries added since the last call, oldest first, as log records."""
        server = self.server
        new = [entry for entry in server.slowlog if entry.id > self._shipped_id]
        if new:
            self._shipped_id = new[0].id
        return [
            slowlog_record(server.model.host_name, entry, slowlog_command(entry.args))
            for entry in reversed(new)
        ]
