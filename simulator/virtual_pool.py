"""SQLAlchemy's QueuePool with its waits in virtual time.

``QueuePool`` builds its wait queue from the class attribute ``_queue_class``.  Swapping only that
for :class:`VirtualQueue` keeps all of QueuePool's own logic -- pool_size, max_overflow, timeout
and its exact ``QueuePool limit of size 200 overflow 0 reached`` error -- while a caller that
finds the pool empty blocks its task on the kernel instead of a thread condition.  Unlike the
real queue, waiters are served strictly first-in-first-out.

A checkout is not free either: taking the pool's lock, the checkout events and handing the
connection over take a few tens of microseconds (log-normal, from the run's seed), and the
statement starts after them.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from sqlalchemy.util.queue import Empty, Full, QueueCommon

from simulator.kernel import TIMED_OUT, Kernel, Wait

# A checkout's own time: median and spread of its log-normal.
CHECKOUT_MEDIAN_S = 0.00004
CHECKOUT_SIGMA = 0.5


class VirtualQueue(QueueCommon[Any]):
    kernel: Kernel  # bound by :func:`virtual_pool_class`
    rng: random.Random

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self.queue: deque[Any] = deque()
        self.waiters: deque[Wait] = deque()

    def qsize(self) -> int:
        return len(self.queue)

    def empty(self) -> bool:
        return not self.queue

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self.queue)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        while self.waiters:
            if self.waiters.popleft().fire(item):  # hand the connection straight to the oldest waiter
                return
        if self.full():
            raise Full()
        self.queue.append(item)

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self.queue:
            item = self.queue.pop() if self.use_lifo else self.queue.popleft()
            if self.kernel.in_task():
                self._take_time()
            return item
        if not block or not self.kernel.in_task():
            raise Empty()
        waiter = Wait(self.kernel)
        self.waiters.append(waiter)
        value = self.kernel.wait(waiter, timeout)
        if value is TIMED_OUT:
            if waiter in self.waiters:  # a put() may already have skipped past it
                self.waiters.remove(waiter)
            raise Empty()
        return value

    def _take_time(self) -> None:
        self.kernel.sleep(CHECKOUT_MEDIAN_S * self.rng.lognormvariate(0.0, CHECKOUT_SIGMA))

    def get_nowait(self) -> Any:
        return self.get(block=False)


def virtual_pool_class(kernel: Kernel, base: type, rng: random.Random) -> type:
    """A subclass of the pool class ``base`` (a QueuePool) whose waits run on ``kernel`` and whose
    checkouts take time drawn from ``rng``.

    It keeps ``base``'s module and name: SQLAlchemy names the pool's logger after its class, and the
    service's log records must say what they say in production, not name the simulator.
    """
    queue_class = type("VirtualQueue", (VirtualQueue,), {"kernel": kernel, "rng": rng})
    identity = {"__module__": base.__module__, "__qualname__": base.__qualname__}
    return type(base.__name__, (base,), {"_queue_class": queue_class, **identity})
