"""Stand-ins for the application's clock and thread pools, running on the kernel.

The application reads time through ``platform_api.lib.clock`` and fans work out through
``platform_api.lib.concurrency``; these classes are what the simulator installs there.  A task
submitted to a :class:`TaskExecutor` becomes a kernel task, and ``max_workers`` is honoured with a
FIFO semaphore, exactly like a thread pool's work queue.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from simulator.kernel import Kernel, Semaphore, Task


class VirtualClock:
    """The application's clock: wall time and monotonic time are both the kernel's time."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def time(self) -> float:
        return self.kernel.now

    def monotonic(self) -> float:
        return self.kernel.now

    def sleep(self, seconds: float) -> None:
        if self.kernel.in_task():
            self.kernel.sleep(seconds)


class TaskFuture:
    """The part of ``concurrent.futures.Future`` the application uses: ``result()``."""

    def __init__(self, kernel: Kernel, task: Task) -> None:
        self._kernel = kernel
        self._task = task
        self._error: BaseException | None = None

    def result(self, timeout: float | None = None) -> Any:
        value = self._kernel.join(self._task, timeout)
        if self._error is not None:
            raise self._error
        return value

    def done(self) -> bool:
        return self._task.done


class TaskExecutor(Executor):
    """A bounded pool of simulated threads."""

    def __init__(self, kernel: Kernel, max_workers: int, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.slots = Semaphore(kernel, max_workers)
        self.futures: list[TaskFuture] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> TaskFuture:  # type: ignore[override]
        holder: list[TaskFuture] = []

        def worker() -> Any:
            self.slots.acquire()
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # delivered to the caller by result(), as a thread pool does
                holder[0]._error = error
                return None
            finally:
                self.slots.release()

        future = TaskFuture(self.kernel, self.kernel.spawn(worker, name=self.name))
        holder.append(future)
        self.futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if wait:
            for future in self.futures:
                self.kernel.join(future._task)
        self.futures.clear()


def executor_factory(kernel: Kernel) -> Callable[[int, str], Executor]:
    def make(max_workers: int, name: str) -> Executor:
        return TaskExecutor(kernel, max_workers, name)

    return make
