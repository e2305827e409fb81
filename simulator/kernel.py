"""A cooperative scheduler on a virtual clock.

The simulator runs the real application code -- Flask views, SQLAlchemy sessions, job functions --
as greenlets.  Nothing in that code knows about greenlets: it yields only inside infrastructure shims
(the virtual clock's ``sleep``, the virtual connection pool, the simulated database driver, the
simulated HTTP transport), which call :meth:`Kernel.sleep` or :meth:`Kernel.wait`.

The design follows SimPy: a heap of ``(time, sequence, callback, argument)`` entries and a hub loop
that pops them in order.  The sequence number breaks ties first-in-first-out, which keeps every run
deterministic for a given seed.  Unlike SimPy, processes are ordinary call stacks (greenlets), so the
application does not need to be rewritten as generators.

Callbacks run in the hub and must never block; tasks (greenlets) may.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import greenlet

__all__ = ["TIMED_OUT", "Kernel", "Semaphore", "SimulationError", "Task", "Wait"]


class SimulationError(RuntimeError):
    """A task crashed or a blocking call was made outside a task: a defect of the simulator."""


class _TimedOut:
    """Sentinel returned by :meth:`Kernel.wait` when the timeout fires first."""

    def __repr__(self) -> str:
        return "TIMED_OUT"


TIMED_OUT: Any = _TimedOut()


class Task:
    """One unit of concurrency: a simulated thread running a request, a job run or a worker."""

    __slots__ = ("_joiners", "done", "greenlet", "name", "result")

    def __init__(self, name: str, glet: greenlet.greenlet) -> None:
        self.name = name
        self.greenlet = glet
        self.result: Any = None
        self.done = False
        self._joiners: list[Wait] = []

    def __repr__(self) -> str:
        return f"<Task {self.name} {'done' if self.done else 'running'}>"


class Wait:
    """A one-shot rendezvous: one task waits, someone else fires it (or its timeout does).

    Whichever of :meth:`fire` and the timeout comes first wins; the other is ignored.  Stale timeout
    entries stay in the heap and are skipped when popped, which is cheaper than removing them.
    """

    __slots__ = ("fired", "glet", "kernel", "value")

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.glet: greenlet.greenlet | None = None
        self.fired = False
        self.value: Any = None

    def fire(self, value: Any = None) -> bool:
        """Wake the waiter (at the current virtual time). Returns False if it already woke."""
        if self.fired:
            return False
        self.fired = True
        self.value = value
        if self.glet is not None:
            self.kernel._push(self.kernel.now, self.glet.switch, value)
        return True

    def _expire(self, _: Any) -> None:
        if not self.fired:
            self.fired = True
            self.value = TIMED_OUT
            assert self.glet is not None
            self.glet.switch(TIMED_OUT)


def _call(callback: Callable[[], Any]) -> None:
    """Heap entry callback of :meth:`Kernel.call_at`: the entry's argument is the callback itself,
    which spares a closure per scheduled call."""
    callback()


class Kernel:
    """Virtual clock, event heap and task scheduler.

    ``now`` is in seconds since the Unix epoch (UTC), so timestamps written by the application are
    directly meaningful.
    """

    def __init__(self, start: float) -> None:
        self.now: float = float(start)
        self._heap: list[tuple[float, int, Callable[[Any], Any], Any]] = []
        self._seq = itertools.count()
        # The hub is the greenlet that owns the kernel; run() must be called from it.
        self._hub: greenlet.greenlet = greenlet.getcurrent()
        self._failure: BaseException | None = None
        self._task_of: dict[greenlet.greenlet, Task] = {}
        # Tasks of a killed process: kept referenced so they are never collected (which would run
        # their cleanup code), and parked whenever a pending wake-up reaches them.
        self._frozen: set[greenlet.greenlet] = set()

    # -- scheduling -------------------------------------------------------------------------
    def _push(self, at: float, callback: Callable[[Any], Any], arg: Any = None) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), callback, arg))

    def call_at(self, at: float, callback: Callable[[], Any]) -> None:
        """Run a non-blocking callback in the hub at virtual time ``at``."""
        self._push(max(at, self.now), _call, callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        self.call_at(self.now + delay, callback)

    def spawn(self, fn: Callable[..., Any], *args: Any, name: str = "task", delay: float = 0.0) -> Task:
        """Start ``fn(*args)`` as a new task after ``delay`` virtual seconds."""
        glet = greenlet.greenlet(self._task_body(fn, args), parent=self._hub)
        task = Task(name, glet)
        self._task_of[glet] = task
        self._push(self.now + delay, glet.switch, None)
        return task

    def _task_body(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[Any], None]:
        def body(_: Any) -> None:
            glet = greenlet.getcurrent()
            task = self._task_of.pop(glet)
            try:
                task.result = fn(*args)
            except KeyboardInterrupt as exc:  # Ctrl-C while this task ran: the run's, not the task's
                self._failure = self._failure or exc
            except BaseException as exc:
                if self._failure is None:
                    self._failure = SimulationError(f"task {task.name!r} crashed: {exc!r}")
                    self._failure.__cause__ = exc
            finally:
                task.done = True
                for joiner in task._joiners:
                    joiner.fire(task.result)

        return body

    # -- blocking calls (from inside a task) ------------------------------------------------
    def current_greenlet(self) -> greenlet.greenlet:
        return greenlet.getcurrent()

    def in_task(self) -> bool:
        return greenlet.getcurrent() is not self._hub

    def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of virtual time."""
        current = greenlet.getcurrent()
        if current is self._hub:
            raise SimulationError("Kernel.sleep() called outside a task")
        self._push(self.now + max(seconds, 0.0), current.switch, None)
        self._hub.switch()
        if self._frozen and current in self._frozen:
            self.park()

    def wait(self, waiter: Wait, timeout: float | None = None) -> Any:
        """Block until ``waiter`` fires or ``timeout`` passes; returns its value or ``TIMED_OUT``."""
        if waiter.fired:
            return waiter.value
        current = greenlet.getcurrent()
        if current is self._hub:
            raise SimulationError("Kernel.wait() called outside a task")
        waiter.glet = current
        if timeout is not None:
            self._push(self.now + max(timeout, 0.0), waiter._expire, None)
        value = self._hub.switch()
        if self._frozen and current in self._frozen:
            self.park()
        return value

    def freeze(self, glet: greenlet.greenlet) -> None:
        """Stop a suspended task for good, as SIGKILL stops a process's threads: it never runs
        again, not even its ``finally`` blocks."""
        self._frozen.add(glet)

    def park(self) -> None:
        """Suspend the calling (frozen) task for good: any wake-up still pending for it finds it
        here and goes straight back to the hub."""
        if greenlet.getcurrent() is self._hub:
            raise SimulationError("Kernel.park() called outside a task")
        while True:
            self._hub.switch()

    def join(self, task: Task, timeout: float | None = None) -> Any:
        if task.done:
            return task.result
        waiter = Wait(self)
        task._joiners.append(waiter)
        return self.wait(waiter, timeout)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, until: float) -> None:
        """Process events in time order until the clock would pass ``until``.

        Must be called from outside any task; may be called repeatedly to advance in steps.
        """
        if greenlet.getcurrent() is not self._hub:
            raise SimulationError("Kernel.run() must be called from the greenlet that made the kernel")
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            at, _, callback, arg = pop(heap)
            self.now = at
            callback(arg)
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
        self.now = max(self.now, until)

    @property
    def pending(self) -> int:
        """Number of scheduled entries (including stale timeouts)."""
        return len(self._heap)


class Semaphore:
    """A counting semaphore whose waiters queue first-in-first-out in virtual time.

    Models bounded thread pools: web-server worker threads, the job scheduler's executor.
    """

    def __init__(self, kernel: Kernel, slots: int) -> None:
        self.kernel = kernel
        self.free = slots
        self.slots = slots
        self._waiters: deque[Wait] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def in_use(self) -> int:
        return self.slots - self.free

    def acquire(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter = Wait(self.kernel)
        self._waiters.append(waiter)
        self.kernel.wait(waiter)

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().fire()  # the slot passes straight to the next waiter
        else:
            self.free += 1
