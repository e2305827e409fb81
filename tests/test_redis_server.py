"""The simulated Redis: one command at a time in arrival order, KEYS priced by the keyspace, the
slowlog, and the real redis-py client talking to it in virtual time."""

from __future__ import annotations

import pytest

from platform_api.lib import plumbing, redis_client
from platform_api.lib.config import load_settings
from simulator.kernel import Kernel
from simulator.redis_connection import ROUND_TRIP_S, connection_class, decode_commands, encode_reply
from simulator.redis_exporter import RedisExporter
from simulator.redis_server import CommandError, RedisModel, RedisServer
from simulator.threads import VirtualClock
from world.redis_keyspace import KeyFamily

MODEL = RedisModel(cost_jitter_sigma=0.0)  # exact costs; the jitter has its own test
RESIDENT = (KeyFamily("web:sess:", 400_000, expiring=True), KeyFamily("cache:", 100_000, expiring=False))


def test_commands_run_one_at_a_time_in_arrival_order():
    server = RedisServer(MODEL)
    _, first_done = server.execute(["SET", "a", "1"], arrival=10.0, client_addr="c")
    _, second_done = server.execute(["GET", "a"], arrival=10.0, client_addr="c")
    assert first_done == pytest.approx(10.0 + MODEL.cost_base_s)
    assert second_done == pytest.approx(first_done + MODEL.cost_base_s)  # it waited for the first
    _, later = server.execute(["GET", "a"], arrival=20.0, client_addr="c")
    assert later == pytest.approx(20.0 + MODEL.cost_base_s)  # an idle server starts at once


def test_keys_costs_the_whole_keyspace_whatever_the_pattern_and_blocks_everyone():
    server = RedisServer(MODEL, RESIDENT)
    server.execute(["SET", "session:1:7:addr", "{}"], arrival=0.0, client_addr="c")
    reply, keys_done = server.execute(["KEYS", "session:1:*"], arrival=1.0, client_addr="c")
    assert reply == ["session:1:7:addr"]
    keyspace = 500_001
    expected = MODEL.cost_base_s + MODEL.cost_per_scanned_key_s * keyspace + MODEL.cost_per_returned_key_s
    assert keys_done - 1.0 == pytest.approx(expected)
    assert 0.05 < expected < 0.2
    _, get_done = server.execute(["GET", "session:1:7:addr"], arrival=1.001, client_addr="other")
    assert get_done == pytest.approx(keys_done + MODEL.cost_base_s)  # queued behind KEYS
    assert server.seconds["GET"] == pytest.approx(MODEL.cost_base_s)  # its own work stays tiny


def test_keys_cost_grows_with_the_keyspace():
    small = RedisServer(MODEL, (KeyFamily("x:", 10_000, expiring=False),))
    large = RedisServer(MODEL, (KeyFamily("x:", 1_000_000, expiring=False),))
    _, small_done = small.execute(["KEYS", "nothing:*"], arrival=0.0, client_addr="c")
    _, large_done = large.execute(["KEYS", "nothing:*"], arrival=0.0, client_addr="c")
    assert large_done / small_done == pytest.approx(100, rel=0.01)


def test_resident_keys_match_patterns_that_reach_them():
    server = RedisServer(MODEL, (KeyFamily("web:sess:", 300, expiring=True),))
    reply, _ = server.execute(["KEYS", "web:sess:0000012*"], arrival=0.0, client_addr="c")
    assert reply == [f"web:sess:{i:08x}" for i in range(0x120, 0x12C)]
    assert server.dbsize() == 300 and server.expiring_keys() == 300


def test_only_commands_over_the_threshold_reach_the_slowlog():
    server = RedisServer(MODEL, RESIDENT)
    server.execute(["SET", "k", "v", "EX", "60"], arrival=0.0, client_addr="10.0.0.1")
    assert not server.slowlog
    server.execute(["KEYS", "session:3:*"], arrival=1.0, client_addr="10.0.0.1")
    (entry,) = server.slowlog
    assert entry.args == ("KEYS", "session:3:*") and entry.duration_s > MODEL.slowlog_slower_than_s
    exporter = RedisExporter(server)
    (record,) = exporter.ship_slowlog()
    assert record["service"] == "redis" and record["message"] == "slowlog: KEYS session:3:*"
    assert record["duration_us"] == round(entry.duration_s * 1e6)
    assert exporter.ship_slowlog() == []  # each entry is shipped once


def test_expiry_and_errors():
    server = RedisServer(MODEL)
    server.execute(["SET", "k", "v", "EX", "5"], arrival=0.0, client_addr="c")
    assert server.execute(["GET", "k"], arrival=4.0, client_addr="c")[0] == "v"
    assert server.execute(["GET", "k"], arrival=6.0, client_addr="c")[0] is None
    assert isinstance(server.execute(["FLUSHALL"], arrival=7.0, client_addr="c")[0], CommandError)
    assert isinstance(server.execute(["GET"], arrival=8.0, client_addr="c")[0], CommandError)


def test_resp_round_trip():
    buffer = bytearray(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI")
    assert decode_commands(buffer) == [["GET", "k"]]
    assert buffer == bytearray(b"*1\r\n$4\r\nPI")  # the incomplete command waits for more bytes
    assert encode_reply(["a", None, 3], resp3=False) == b"*3\r\n$1\r\na\r\n$-1\r\n:3\r\n"
    assert encode_reply(None, resp3=True) == b"_\r\n"


def test_redis_py_client_waits_in_virtual_time_behind_keys():
    kernel = Kernel(start=1000.0)
    server = RedisServer(MODEL, RESIDENT)
    plumbing.configure(
        clock=VirtualClock(kernel), redis_connection_class=connection_class(kernel, server, "10.0.1.11")
    )
    try:
        store = redis_client.connect(load_settings(environ={"SESSION_STORE": "redis"}))
        other = redis_client.connect(load_settings(environ={"SESSION_STORE": "redis"}))
        seen: dict[str, object] = {}

        def scan() -> None:
            store.set("session:1:2:x", "{}", ex=60)
            started = kernel.now
            seen["keys"] = store.keys("session:1:*")
            seen["keys_s"] = kernel.now - started

        def write() -> None:
            kernel.sleep(0.05)  # halfway through KEYS
            started = kernel.now
            other.set("rate:1", "1")
            seen["set_s"] = kernel.now - started

        kernel.spawn(scan)
        kernel.spawn(write)
        kernel.run(until=1010.0)
    finally:
        plumbing.reset()
    assert seen["keys"] == ["session:1:2:x"]
    keys_cost = MODEL.cost_per_scanned_key_s * 500_001
    assert seen["keys_s"] == pytest.approx(keys_cost + ROUND_TRIP_S, rel=0.01)
    assert 0.03 < seen["set_s"] < keys_cost  # connecting and the SET waited for the rest of KEYS
    assert server.connected_clients == 2


def test_costs_vary_around_the_work_and_the_resident_keyspace_drifts():
    families = (KeyFamily("web:sess:", 400_000, expiring=True, growth_per_hour=0.03, wobble=0.004),)
    server = RedisServer(RedisModel(), families, seed=9, start=0.0)
    costs = []
    for i in range(50):
        arrival = i * 1.0
        _, done = server.execute(["KEYS", "session:1:*"], arrival=arrival, client_addr="c")
        costs.append(done - arrival)
    assert len({round(cost, 6) for cost in costs}) == len(costs)  # no two alike
    median = sorted(costs)[25]
    assert median == pytest.approx(MODEL.cost_per_scanned_key_s * 400_000, rel=0.15)  # still the work
    sizes = []
    for minute in range(0, 180, 10):
        server.execute(["GET", "x"], arrival=minute * 60.0 + 0.5, client_addr="c")
        sizes.append(server.dbsize())
    assert sizes[-1] > sizes[0] * 1.05 and len(set(sizes)) == len(sizes)
    again = RedisServer(RedisModel(), families, seed=9, start=0.0)
    again.execute(["GET", "x"], arrival=170 * 60.0 + 0.5, client_addr="c")
    assert again.dbsize() == sizes[-1]  # a function of time and seed, whoever asks first


def test_keys_nobody_touches_expire_in_the_active_cycle():
    server = RedisServer(MODEL)
    server.execute(["SET", "k", "v", "EX", "5"], arrival=0.0, client_addr="c")
    assert server.dbsize() == 1
    server.execute(["GET", "other"], arrival=7.0, client_addr="c")
    assert server.dbsize() == 0
