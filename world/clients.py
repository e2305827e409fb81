"""Where the service's clients connect from, and how their traffic drifts around the diurnal curve.

Addresses are public and realistic: each tenant has one or two integration servers in a cloud
provider's egress range (the heavy clients: most of its API calls), an office behind one NAT
address, and a handful of people working from home on consumer ISPs.  All are drawn once from the
run's seed.

Load is not a smooth curve either: around the diurnal swing it drifts (a level that wanders from
one five-minute knot to the next) and now and then bursts (a batch upload, a customer's script
run by hand) for tens of seconds.  Both are functions of time alone, each knot and each burst drawn
from the seed and the knot's number, so the same instant gets the same factor whoever asks first.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from world.randomness import derive_seed

# Public ranges clients really come from: cloud providers' egress and consumer or business ISPs.
_CLOUD_EGRESS = ("3.208.0.0/12", "34.192.0.0/12", "35.184.0.0/13", "52.0.0.0/11", "20.42.0.0/15")
_OFFICE_ISPS = ("81.2.64.0/18", "84.17.32.0/19", "62.210.0.0/16", "12.0.0.0/10", "65.96.0.0/12")
_HOME_ISPS = ("73.0.0.0/10", "24.60.0.0/14", "98.192.0.0/11", "86.128.0.0/11", "90.0.0.0/11")

# Share of a tenant's requests from its integration servers, its office, and people at home.
_ORIGIN_WEIGHTS = (0.6, 0.28, 0.12)


def _address_in(rng: random.Random, cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    return str(network[rng.randrange(1, network.num_addresses - 1)])


@dataclass(frozen=True)
class TenantClients:
    """One tenant's client addresses by origin."""

    servers: tuple[str, ...]
    office: str
    homes: tuple[str, ...]

    def pick(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < _ORIGIN_WEIGHTS[0]:
            return self.servers[0] if len(self.servers) == 1 or draw < 0.45 else self.servers[1]
        if draw < _ORIGIN_WEIGHTS[0] + _ORIGIN_WEIGHTS[1]:
            return self.office
        return self.homes[int(rng.random() * len(self.homes))]


def tenant_clients(rng: random.Random, tenants: int) -> list[TenantClients]:
    """Each tenant's addresses, drawn once from ``rng``."""
    clients = []
    for _ in range(tenants):
        egress = rng.choice(_CLOUD_EGRESS)
        servers = tuple(_address_in(rng, egress) for _ in range(rng.choice((1, 1, 2))))
        office = _address_in(rng, rng.choice(_OFFICE_ISPS))
        homes = tuple(_address_in(rng, rng.choice(_HOME_ISPS)) for _ in range(rng.randint(3, 9)))
        clients.append(TenantClients(servers, office, homes))
    return clients


class TrafficDrift:
    """A multiplier on the diurnal rate: a wandering level plus occasional bursts."""

    KNOT_S = 300.0  # the level is interpolated between knots this far apart
    LEVEL_SD = 0.07  # each knot's level: 1 + N(0, LEVEL_SD)
    BURST_BLOCK_S = 600.0  # at most one burst per block
    BURST_CHANCE = 0.35
    BURST_S = (15.0, 90.0)
    BURST_FACTOR = (1.25, 1.7)

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._levels: dict[int, float] = {}
        self._bursts: dict[int, tuple[float, float, float] | None] = {}

    def _level(self, knot: int) -> float:
        level = self._levels.get(knot)
        if level is None:
            rng = random.Random(derive_seed(self._seed, f"level:{knot}"))
            level = self._levels[knot] = max(0.75, 1.0 + rng.gauss(0.0, self.LEVEL_SD))
        return level

    def _burst(self, block: int) -> tuple[float, float, float] | None:
        if block not in self._bursts:
            rng = random.Random(derive_seed(self._seed, f"burst:{block}"))
            burst = None
            if rng.random() < self.BURST_CHANCE:
                start = (block + rng.random()) * self.BURST_BLOCK_S
                burst = (start, start + rng.uniform(*self.BURST_S), rng.uniform(*self.BURST_FACTOR))
            self._bursts[block] = burst
        return self._bursts[block]

    def factor(self, now: float) -> float:
        position = now / self.KNOT_S
        knot = int(position // 1)
        share = position - knot
        level = self._level(knot) * (1.0 - share) + self._level(knot + 1) * share
        burst = self._burst(int(now // self.BURST_BLOCK_S))
        if burst is not None and burst[0] <= now < burst[1]:
            level *= burst[2]
        return level
