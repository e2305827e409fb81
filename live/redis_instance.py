"""The real Redis server's side of live mode: an empty index to own, its keyspace, its metrics.

A scenario whose service keeps its sessions in Redis (``SESSION_STORE = "redis"``) runs against a
real Redis.  Live mode takes one database index of it, which must be empty (it is flushed when the
run ends, so it must hold nothing of anyone else's), and fills it with the keys the shared
production instance holds for its other clients (``world.redis_keyspace.REDIS_RESIDENT_KEYS``, the same
names), so that commands whose cost grows with the keyspace cost what they cost there.  What a
production stack reports about its Redis is read from the server itself, on a connection of its
own: redis_exporter's metrics from ``INFO`` and the new ``SLOWLOG GET`` entries as log records of
service ``redis``, under redis_exporter's names (:mod:`world.redis_metrics`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from obsim.scenario import Scenario
from world.redis_keyspace import KeyFamily
from world.redis_metrics import RedisFigures, SlowlogEntry, redis_families, slowlog_record

CONNECT_TIMEOUT_S = 3.0
SEED_CHUNK = 5_000  # keys per script call: each call holds Redis's command thread for a few ms
SLOWLOG_READ = 128  # slowlog-max-len's default: at most this many entries between two scrapes
RESIDENT_VALUE = "1"  # only the keys' names and number matter to the service's commands
START_HINT = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'

# Writing a million keys command by command costs redis-py ~15 s of packing replies and requests;
# a loop on the server writes the same keys, a chunk per call, in about 3 s.
_SEED_SCRIPT = """
local prefix, first, last, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for i = first, last - 1 do
  local key = prefix .. string.format('%08x', i)
  if ttl == '' then
    redis.call('SET', key, ARGV[5])
  else
    redis.call('SET', key, ARGV[5], 'EX', ttl)
  end
end
return last - first
"""


class RedisSetupError(Exception):
    """No Redis answers at the URL, or its database index is not live mode's to use."""


def uses_redis(scenario: Scenario) -> bool:
    """Whether the service, configured with the scenario's ``[app.settings]``, keeps its sessions in
    Redis (read by the service's own configuration code, as it would at start-up)."""
    from platform_api.lib import config

    return config.load_settings(environ=dict(scenario.app.settings)).session_store == "redis"


def connect(url: str) -> redis.Redis:
    """A client of ``url`` for live mode itself (never the service's own pool), decoded replies."""
    return redis.Redis.from_url(
        url,
        socket_timeout=CONNECT_TIMEOUT_S * 10,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        decode_responses=True,
    )


def claim(url: str) -> None:
    """Check that Redis answers at ``url`` and that its database index is empty, or raise."""
    client = connect(url)
    try:
        size = client.dbsize()
    except redis.RedisError as error:
        raise RedisSetupError(
            f"no Redis answers at {url} ({error}): the scenario keeps its sessions in Redis. "
            f"Start one ({START_HINT}) or point --redis-url at one"
        ) from error
    finally:
        client.close()
    if size:
        index = _index(url)
        raise RedisSetupError(
            f"database {index} of {url} holds {size:,} keys: live mode seeds its own keys there "
            "and flushes the index when the run ends, so it needs an empty one. Choose an empty index "
            f"(--redis-url redis://HOST:PORT/N) or empty this one (redis-cli -n {index} FLUSHDB)"
        )


def seed(url: str, families: Iterable[KeyFamily], ttl_s: int) -> int:
    """Write each family's keys, ``<prefix><index:08x>``; expiring ones live ``ttl_s`` seconds.
    Returns how many keys the index holds."""
    client = connect(url)
    try:
        script = client.register_script(_SEED_SCRIPT)
        pipeline = client.pipeline(transaction=False)
        for family in families:
            ttl = str(ttl_s) if family.expiring else ""
            for first in range(0, family.count, SEED_CHUNK):
                last = min(first + SEED_CHUNK, family.count)
                script(args=[family.prefix, first, last, ttl, RESIDENT_VALUE], client=pipeline)
        pipeline.execute()
        return client.dbsize()
    finally:
        client.close()


def flush(url: str) -> None:
    """Empty the database index live mode claimed (it was empty before the run)."""
    client = connect(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _index(url: str) -> int:
    return int(redis.ConnectionPool.from_url(url).connection_kwargs.get("db", 0))


def instance_name(url: str) -> str:
    """The ``instance`` label: the server's address, as Prometheus labels an exporter's target."""
    kwargs = redis.ConnectionPool.from_url(url).connection_kwargs
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


class RedisMonitor:
    """The real server's ``INFO`` and slowlog, read on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.instance = instance_name(url)
        self._client = connect(url)
        self._lock = threading.Lock()
        # Entries already in the slowlog (other clients', live mode's seeding) are not this run's.
        newest = self._client.slowlog_get(1)
        self._shipped_id = newest[0]["id"] if newest else -1

    def figures(self) -> RedisFigures:
        info = self._client.info("all")
        commands = sorted(name for name in info if name.startswith("cmdstat_"))
        slowlog = self._client.slowlog_get(1)
        databases = sorted((name for name in info if _is_db(name, info[name])), key=lambda db: int(db[2:]))
        return RedisFigures(
            connected_clients=int(info["connected_clients"]),
            commands_processed=int(info["total_commands_processed"]),
            calls={name.removeprefix("cmdstat_"): int(info[name]["calls"]) for name in commands},
            seconds={name.removeprefix("cmdstat_"): info[name]["usec"] / 1e6 for name in commands},
            cpu_user_main_thread_s=float(info.get("used_cpu_user_main_thread", info["used_cpu_user"])),
            keys={db: int(info[db]["keys"]) for db in databases},
            expiring_keys={db: int(info[db]["expires"]) for db in databases},
            used_memory_bytes=int(info["used_memory"]),
            slowlog_length=int(self._client.slowlog_len()),
            last_slow_execution_s=slowlog[0]["duration"] / 1e6 if slowlog else 0.0,
        )

    def ship_slowlog(self) -> list[dict[str, Any]]:
        """The slowlog entries added since the last call, oldest first, as log records."""
        with self._lock:
            new = [
                entry for entry in self._client.slowlog_get(SLOWLOG_READ) if entry["id"] > self._shipped_id
            ]
            if new:
                self._shipped_id = new[0]["id"]
        records = []
        for entry in reversed(new):
            command = _text(entry["command"])
            parsed = SlowlogEntry(
                entry["id"],
                float(entry["start_time"]),
                entry["duration"] / 1e6,
                tuple(command.split(" ")),
                _text(entry["client_address"]),
            )
            records.append(slowlog_record(self.instance, parsed, command))
        return records

    def close(self) -> None:
        self._client.close()


class RedisInfoCollector(Collector):
    """redis_exporter's metrics, from the real server's ``INFO``."""

    def __init__(self, monitor: RedisMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self.monitor.figures()
        except redis.RedisError:  # as redis_exporter: the instance is down, the scrape goes on
            down = GaugeMetricFamily("redis_up", "Information about the Redis instance.", labels=["instance"])
            down.add_metric([self.monitor.instance], 0)
            return [down]
        return redis_families(self.monitor.instance, figures)


def _is_db(name: str, value: Any) -> bool:
    return name.startswith("db") and name[2:].isdigit() and isinstance(value, dict)


def _text(value: str | bytes) -> str:
    """redis-py returns a slowlog entry's command and address as bytes even with decoded replies."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
