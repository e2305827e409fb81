"""redis-py connections to the simulated Redis server, over a socket that lives in virtual time.

The application uses the real redis-py client: its pool, its RESP encoder and parser, its
connection handshake.  Only the socket is replaced (:func:`connection_class`, installed with the
application's plumbing, ``redis_connection_class``).  ``sendall`` decodes the RESP commands and
hands each to the server as it arrives (half a round trip later); ``recv`` waits in virtual time
until the reply is back, or raises ``socket.timeout`` after the socket's timeout, as a real socket
does.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from redis.connection import Connection

from simulator.kernel import Kernel
from simulator.redis_server import CommandError, RedisServer, Status

ROUND_TRIP_S = 0.0003  # same-zone network round trip
NETWORK_SIGMA = 0.3


def encode_reply(reply: Any, resp3: bool) -> bytes:
    """A reply in RESP2, or RESP3 once the connection said ``HELLO 3``."""
    if isinstance(reply, Status):
        return b"+" + reply.encode() + b"\r\n"
    if isinstance(reply, CommandError):
        return b"-" + str(reply).encode() + b"\r\n"
    if reply is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, str):
        data = reply.encode()
        return b"$%d\r\n%s\r\n" % (len(data), data)
    if isinstance(reply, dict):
        items = [part for pair in reply.items() for part in pair]
        header = b"%%%d\r\n" % len(reply) if resp3 else b"*%d\r\n" % len(items)
        return header + b"".join(encode_reply(item, resp3) for item in items)
    return b"*%d\r\n" % len(reply) + b"".join(encode_reply(item, resp3) for item in reply)


def decode_commands(buffer: bytearray) -> list[list[str]]:
    """Remove every complete command (a RESP array of bulk strings) from ``buffer`` and return them."""
    commands = []
    pos = 0
    while True:
        parsed = _decode_command(buffer, pos)
        if parsed is None:
            break
        command, pos = parsed
        commands.append(command)
    del buffer[:pos]
    return commands


def _decode_command(buffer: bytearray, pos: int) -> tuple[list[str], int] | None:
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return None
    if buffer[pos : pos + 1] != b"*":
        raise ValueError(f"expected a RESP array, got {bytes(buffer[pos : pos + 16])!r}")
    count = int(buffer[pos + 1 : end])
    pos = end + 2
    args = []
    for _ in range(count):
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buffer[pos + 1 : end])
        start, pos = end + 2, end + 2 + size + 2
        if pos > len(buffer):
            return None
        args.append(buffer[start : start + size].decode())
    return args, pos


class SimulatedSocket:
    """The client end of one TCP connection to the simulated server (the calls redis-py makes)."""

    def __init__(
        self, kernel: Kernel, server: RedisServer, client_addr: str, network: random.Random | None
    ) -> None:
        self.kernel = kernel
        self.server = server
        self.client_addr = client_addr
        self._network = network
        self._timeout: float | None = None
        self._outgoing = bytearray()
        self._replies: deque[tuple[float, bytes]] = deque()  # (arrives at the client, payload)
        self._open = True
        self._resp3 = False
        server.connect()

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def setsockopt(self, *args: Any) -> None:
        return None

    def sendall(self, data: bytes) -> None:
        if not self._open:
            raise BrokenPipeError("socket closed")
        self._outgoing += data
        arrival = self.kernel.now + self._one_way()
        for command in decode_commands(self._outgoing):
            reply, sent_at = self.server.execute(command, arrival, self.client_addr)
            if command[0].upper() == "HELLO" and isinstance(reply, dict):
                self._resp3 = reply["proto"] == 3
            self._replies.append((sent_at + self._one_way(), encode_reply(reply, self._resp3)))

    def _one_way(self) -> float:
        """Half a round trip; the network's own variation when the socket has one."""
        if self._network is None:
            return ROUND_TRIP_S / 2
        return ROUND_TRIP_S / 2 * self._network.lognormvariate(0.0, NETWORK_SIGMA)

    def recv(self, size: int) -> bytes:
        if not self._replies:
            if self._timeout is not None:  # nothing was asked: only a poll (timeout 0) does this
                raise TimeoutError("timed out")
            raise RuntimeError("recv on an idle simulated Redis socket would block forever")
        arrives, payload = self._replies[0]
        wait = arrives - self.kernel.now
        if wait > 0:
            if self._timeout is not None and wait > self._timeout:
                if self._timeout > 0:
                    self.kernel.sleep(self._timeout)
                raise TimeoutError("timed out")
            self.kernel.sleep(wait)
        if len(payload) > size:
            self._replies[0] = (arrives, payload[size:])
            return payload[:size]
        self._replies.popleft()
        return payload

    def shutdown(self, how: int) -> None:
        return None

    def close(self) -> None:
        if self._open:
            self._open = False
            self.server.disconnect()


def connection_class(
    kernel: Kernel, server: RedisServer, client_addr: str, network: random.Random | None = None
) -> type[Connection]:
    """A redis-py ``Connection`` class whose sockets reach ``server`` from ``client_addr``; with
    ``network``, each packet's delay varies around the round trip (log-normal)."""

    class SimulatedConnection(Connection):
        def _connect(self) -> SimulatedSocket:
            kernel.sleep(ROUND_TRIP_S)  # the TCP handshake
            return SimulatedSocket(kernel, server, client_addr, network)

    return SimulatedConnection
