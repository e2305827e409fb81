"""The simulated Redis server: one thread running one command at a time, in virtual time.

Redis executes every command on a single thread, in arrival order: a command that takes 200 ms
makes every command that arrives meanwhile wait for it.  :meth:`RedisServer.execute` models exactly
that with one number, ``busy_until``: a command starts when it has arrived and every earlier
command is done, runs for its cost, and its effect is applied in that same order (so replies are
what a real server would send).  Costs follow Redis's documented complexity: O(1) commands cost a
few microseconds, ``MGET``/``DEL``/``SADD`` a little per key, and ``KEYS`` walks the whole keyspace
whatever its pattern, at ``cost_per_scanned_key_s`` per key.  Commands slower than
``slowlog_slower_than_s`` are recorded in the slowlog, as ``slowlog-log-slower-than`` does.

The keyspace is the keys the application writes plus the *resident* keys that other clients of a
shared production instance keep there (the web dashboard's browser sessions, response caches):
each family is a count of keys named ``<prefix><index as 8 hex digits>``, created only when a
pattern could match them, since for most commands only their number matters.  Their number is not
fixed: sessions are created and expire all day, so each family grows (or shrinks) at its hourly
rate from the run's start and wobbles around that trend minute by minute (seeded).  The
application's own keys expire when touched and in an active expiry cycle once a second.

No command costs exactly the same twice: each cost varies by a log-normal factor (cache misses,
allocator, the reply's path through the kernel), drawn from the run's seed in batches; the per-key
work of a long command varies by a third as much, since a walk of a million keys averages its
own variation out.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from world.redis_keyspace import KeyFamily
from world.redis_metrics import SlowlogEntry


@dataclass(frozen=True)
class RedisModel:
    host_name: str = "cache-1"
    address: str = "10.0.2.21"
    cost_base_s: float = 2e-6  # parse, dispatch and reply of an O(1) command
    cost_per_argument_s: float = 5e-7  # each further key or member of MGET, DEL, SADD, ...
    cost_per_scanned_key_s: float = 1.8e-7  # KEYS: dictionary walk and glob match, per key
    cost_per_returned_key_s: float = 2e-7  # building the reply
    slowlog_slower_than_s: float = 0.01  # slowlog-log-slower-than 10000 (microseconds)
    slowlog_max_len: int = 128
    bytes_per_key: int = 210  # used_memory per key (key, value, dict entry, expiry), as INFO shows
    cost_jitter_sigma: float = 0.18  # each command's cost times a log-normal factor with this sigma
    active_expire_interval_s: float = 1.0  # how often expired keys nobody touched are removed


class Status(str):
    """A simple-string reply (``+OK``), as opposed to a bulk string."""


class CommandError(Exception):
    """An error reply (``-ERR ...``)."""


_WORK_JITTER_SHARE = 0.3  # how much of a command's variation its per-key work has
_OK = Status("OK")
_PONG = Status("PONG")
_WILDCARD = re.compile(r"[*?\[\\]")


class RedisServer:
    """The server's state (keyspace, clients, statistics, slowlog) and its single command thread."""

    def __init__(
        self,
        model: RedisModel,
        resident: tuple[KeyFamily, ...] = (),
        seed: int = 0,
        start: float = 0.0,
        other_clients: int = 0,
    ) -> None:
        self.model = model
        self.resident = resident
        self.other_clients = other_clients  # connections of the other clients, give or take a few
        self._seed = seed
        self._start = start
        self._now = start  # when the latest command started: INFO's view of the keyspace
        self._counts_minute = -1
        self._counts: tuple[int, ...] = tuple(family.count for family in resident)
        self._rng = random.Random(seed)
        self._jitter: list[float] = []
        self._next_expire_cycle = start
        self._data: dict[str, tuple[Any, float]] = {}  # key -> (value, expires at or inf)
        self.busy_until = 0.0
        self.busy_seconds = 0.0
        self.processed = 0
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.connected_clients = 0
        self.slowlog: deque[SlowlogEntry] = deque(maxlen=model.slowlog_max_len)
        self._slowlog_next_id = 0
        self._commands = {
            "HELLO": self._hello,
            "CLIENT": self._client,
            "PING": lambda args, now: (_PONG, 0),
            "GET": self._get,
            "SET": self._set,
            "MGET": self._mget,
            "DEL": self._del,
            "EXPIRE": self._expire,
            "KEYS": self._keys,
            "SADD": self._sadd,
            "SREM": self._srem,
            "SMEMBERS": self._smembers,
            "DBSIZE": lambda args, now: (self.dbsize(), 0),
        }

    # -- the command thread ---------------------------------------------------------------------
    def execute(self, args: list[str], arrival: float, client_addr: str) -> tuple[Any, float]:
        """Run one command that reaches the server at ``arrival``: its reply and when it is sent.

        Raises nothing: an unknown command or bad arguments become a :class:`CommandError` reply.
        """
        start = max(arrival, self.busy_until)
        self._now = start
        if start >= self._next_expire_cycle:
            self._expire_cycle(start)
        name = args[0].upper()
        handler = self._commands.get(name)
        work = 0.0
        try:
            if handler is None:
                raise CommandError(f"ERR unknown command '{args[0]}'")
            reply, work = handler(args[1:], start)
        except CommandError as error:
            reply = error
        except (IndexError, ValueError):
            reply = CommandError(f"ERR wrong number of arguments for '{name.lower()}' command")
        # The fixed part varies most; a long walk averages its own variation out.
        factor = self._jitter_factor()
        cost = self.model.cost_base_s * factor + work * (1.0 + (factor - 1.0) * _WORK_JITTER_SHARE)
        self.busy_until = start + cost
        self.busy_seconds += cost
        self.processed += 1
        self.calls[name] += 1
        self.seconds[name] += cost
        if cost > self.model.slowlog_slower_than_s:
            self.slowlog.appendleft(
                SlowlogEntry(self._slowlog_next_id, start, cost, tuple(args), client_addr)
            )
            self._slowlog_next_id += 1
        return reply, self.busy_until

    def connect(self) -> None:
        self.connected_clients += 1

    def disconnect(self) -> None:
        self.connected_clients -= 1

    def _jitter_factor(self) -> float:
        if not self._jitter:
            sigma = self.model.cost_jitter_sigma
            draw = self._rng.lognormvariate
            self._jitter = [draw(0.0, sigma) for _ in range(1024)] if sigma else [1.0] * 1024
        return self._jitter.pop()

    def _expire_cycle(self, now: float) -> None:
        """Redis's active expiry: keys past their time go even if nobody touches them."""
        for key in [key for key, (_, expires) in self._data.items() if expires <= now]:
            del self._data[key]
        self._next_expire_cycle = now + self.model.active_expire_interval_s

    def resident_counts(self) -> tuple[int, ...]:
        """Each resident family's key count now: its trend from the start plus this minute's wobble."""
        minute = int((self._now - self._start) // 60)
        if minute != self._counts_minute:
            hours = (self._now - self._start) / 3600
            counts = []
            for family in self.resident:
                wobble = random.Random(f"{self._seed}:{family.prefix}:{minute}").gauss(0.0, family.wobble)
                counts.append(max(0, round(family.count * (1 + family.growth_per_hour * hours + wobble))))
            self._counts, self._counts_minute = tuple(counts), minute
        return self._counts

    # -- INFO-style state -----------------------------------------------------------------------
    def clients(self) -> int:
        """``connected_clients``: the application's connections and the other clients' this minute."""
        if not self.other_clients:
            return self.connected_clients
        minute = int((self._now - self._start) // 60)
        others = self.other_clients + random.Random(f"{self._seed}:clients:{minute}").randint(-4, 4)
        return self.connected_clients + max(0, others)

    def dbsize(self) -> int:
        return sum(self.resident_counts()) + len(self._data)

    def expiring_keys(self) -> int:
        own = sum(1 for _, expires in self._data.values() if expires != math.inf)
        counts = self.resident_counts()
        return own + sum(
            count for family, count in zip(self.resident, counts, strict=True) if family.expiring
        )

    def used_memory_bytes(self) -> int:
        return self.dbsize() * self.model.bytes_per_key

    # -- commands: each returns (reply, work seconds beyond the base cost) ----------------------
    def _live(self, key: str, now: float) -> Any | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._data[key]  # expired keys are removed when touched, as Redis does
            return None
        return entry[0]

    def _hello(self, args: list[str], now: float) -> tuple[Any, float]:
        if args and args[0] not in {"2", "3"}:
            raise CommandError("NOPROTO unsupported protocol version")
        info = {
            "server": "redis",
            "version": "7.2.4",
            "proto": int(args[0]) if args else 2,
            "mode": "standalone",
        }
        return {**info, "role": "master", "modules": []}, 0.0

    def _client(self, args: list[str], now: float) -> tuple[Any, float]:
        if args and args[0].upper() in {"SETINFO", "SETNAME"}:
            return _OK, 0.0
        raise CommandError("ERR unsupported CLIENT subcommand")

    def _get(self, args: list[str], now: float) -> tuple[Any, float]:
        (key,) = args
        value = self._live(key, now)
        if isinstance(value, set):
            raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value, 0.0

    def _set(self, args: list[str], now: float) -> tuple[Any, float]:
        key, value, *options = args
        expires = math.inf
        words = [option.upper() for option in options]
        if "EX" in words:
            expires = now + int(options[words.index("EX") + 1])
        elif "PX" in words:
            expires = now + int(options[words.index("PX") + 1]) / 1000
        self._data[key] = (value, expires)
        return _OK, 0.0

    def _mget(self, args: list[str], now: float) -> tuple[Any, float]:
        if not args:
            raise ValueError
        values = [self._live(key, now) for key in args]
        return [None if isinstance(v, set) else v for v in values], self.model.cost_per_argument_s * len(args)

    def _del(self, args: list[str], now: float) -> tuple[Any, float]:
        removed = 0
        for key in args:
            if self._live(key, now) is not None:
                del self._data[key]
                removed += 1
        return removed, self.model.cost_per_argument_s * len(args)

    def _expire(self, args: list[str], now: float) -> tuple[Any, float]:
        key, seconds = args
        value = self._live(key, now)
        if value is None:
            return 0, 0.0
        self._data[key] = (value, now + int(seconds))
        return 1, 0.0

    def _keys(self, args: list[str], now: float) -> tuple[Any, float]:
        """Every live key matching the glob pattern: O(keyspace), whatever the pattern."""
        (pattern,) = args
        scanned = self.dbsize()
        literal = _WILDCARD.split(pattern, maxsplit=1)[0]
        matcher = re.compile(fnmatch.translate(pattern)).match
        found = [key for key in list(self._data) if matcher(key) and self._live(key, now) is not None]
        for family, count in zip(self.resident, self.resident_counts(), strict=True):
            if family.prefix.startswith(literal) or literal.startswith(family.prefix):
                found.extend(key for i in range(count) if matcher(key := f"{family.prefix}{i:08x}"))
        model = self.model
        return found, model.cost_per_scanned_key_s * scanned + model.cost_per_returned_key_s * len(found)

    def _members(self, key: str, now: float) -> set[str] | None:
        value = self._live(key, now)
        if value is not None and not isinstance(value, set):
            raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def _sadd(self, args: list[str], now: float) -> tuple[Any, float]:
        key, *members = args
        if not members:
            raise ValueError
        current = self._members(key, now)
        if current is None:
            current = set()
            self._data[key] = (current, math.inf)
        added = len(set(members) - current)
        current.update(members)
        return added, self.model.cost_per_argument_s * len(members)

    def _srem(self, args: list[str], now: float) -> tuple[Any, float]:
        key, *members = args
        current = self._members(key, now) or set()
        removed = len(current & set(members))
        current.difference_update(members)
        if not current:
            self._data.pop(key, None)
        return removed, self.model.cost_per_argument_s * len(members)

    def _smembers(self, args: list[str], now: float) -> tuple[Any, float]:
        (key,) = args
        members = sorted(self._members(key, now) or ())
        return members, self.model.cost_per_returned_key_s * len(members)
