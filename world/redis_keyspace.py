"""The keys other clients keep in the shared Redis instance the service uses.

Engine-neutral: the simulated Redis builds its resident keyspace from these families and live mode
seeds its real instance with them, so ``KEYS`` walks the same keyspace in both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyFamily:
    """Keys another client keeps in the instance: ``count`` keys named ``<prefix><index:08x>``."""

    prefix: str
    count: int
    expiring: bool
    growth_per_hour: float = 0.0  # relative change per hour from the run's start
    wobble: float = 0.0  # standard deviation of the minute-to-minute relative wobble


# The shared Redis instance's keys of its other clients, sized as production's INFO keyspace shows:
# the web dashboard's browser sessions and CSRF tokens, and its rendered-fragment cache.
# Sessions and CSRF tokens accumulate over the working day (more created than expire); fragments
# are evicted a little faster than they are rendered.
REDIS_RESIDENT_KEYS = (
    KeyFamily("web:sess:", 620_000, expiring=True, growth_per_hour=0.025, wobble=0.003),
    KeyFamily("web:csrf:", 110_000, expiring=True, growth_per_hour=0.02, wobble=0.004),
    KeyFamily("cache:fragment:", 310_000, expiring=True, growth_per_hour=-0.01, wobble=0.006),
)
