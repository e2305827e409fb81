"""The virtual-clock kernel: ordering, sleeping, waiting with timeouts, crashes."""

import pytest

from simulator.kernel import TIMED_OUT, Kernel, SimulationError, Wait


def test_tasks_interleave_in_virtual_time_order():
    kernel = Kernel(start=1000.0)
    trace: list[tuple[str, float]] = []

    def worker(name: str, step: float) -> None:
        for _ in range(3):
            kernel.sleep(step)
            trace.append((name, kernel.now))

    kernel.spawn(worker, "a", 1.0)
    kernel.spawn(worker, "b", 1.5)
    kernel.run(until=2000.0)
    # At 1003 both wake; b scheduled its wake-up first (at 1001.5), so it runs first.
    assert trace == [
        ("a", 1001.0),
        ("b", 1001.5),
        ("a", 1002.0),
        ("b", 1003.0),
        ("a", 1003.0),
        ("b", 1004.5),
    ]
    assert kernel.now == 2000.0


def test_ties_are_first_in_first_out():
    kernel = Kernel(start=0.0)
    order: list[int] = []
    for i in range(10):
        kernel.spawn(lambda i=i: (kernel.sleep(5.0), order.append(i)))
    kernel.run(until=10.0)
    assert order == list(range(10))


def test_wait_fired_before_timeout_returns_value():
    kernel = Kernel(start=0.0)
    waiter = Wait(kernel)
    got: list[object] = []

    def waiting() -> None:
        got.append((kernel.wait(waiter, timeout=10.0), kernel.now))

    kernel.spawn(waiting)
    kernel.call_at(3.0, lambda: waiter.fire("hello"))
    kernel.run(until=60.0)
    assert got == [("hello", 3.0)]


def test_wait_times_out_and_late_fire_is_ignored():
    kernel = Kernel(start=0.0)
    waiter = Wait(kernel)
    got: list[object] = []
    kernel.spawn(lambda: got.append((kernel.wait(waiter, timeout=10.0), kernel.now)))
    kernel.call_at(12.0, lambda: got.append(("late fire accepted", waiter.fire("x"))))
    kernel.run(until=60.0)
    assert got == [(TIMED_OUT, 10.0), ("late fire accepted", False)]


def test_join_returns_task_result():
    kernel = Kernel(start=0.0)

    def child() -> int:
        kernel.sleep(2.0)
        return 42

    results: list[object] = []

    def parent() -> None:
        task = kernel.spawn(child)
        results.append((kernel.join(task), kernel.now))

    kernel.spawn(parent)
    kernel.run(until=5.0)
    assert results == [(42, 2.0)]


def test_crashed_task_stops_the_run_loudly():
    kernel = Kernel(start=0.0)

    def boom() -> None:
        kernel.sleep(1.0)
        raise ValueError("boom")

    kernel.spawn(boom, name="exploder")
    with pytest.raises(SimulationError, match="exploder"):
        kernel.run(until=5.0)


def test_ctrl_c_inside_a_task_interrupts_the_run_not_the_task():
    """The worker reports an interrupt as one, instead of as a crashed request."""
    kernel = Kernel(start=0.0)
    finished: list[float] = []

    def interrupted() -> None:
        kernel.sleep(1.0)
        raise KeyboardInterrupt

    def later() -> None:
        kernel.sleep(2.0)
        finished.append(kernel.now)

    kernel.spawn(interrupted, name="request")
    kernel.spawn(later, name="other")
    with pytest.raises(KeyboardInterrupt):
        kernel.run(until=5.0)
    assert finished == [] and kernel.now < 2.0


def test_blocking_outside_a_task_is_refused():
    kernel = Kernel(start=0.0)
    with pytest.raises(SimulationError):
        kernel.sleep(1.0)


def test_run_advances_in_steps():
    kernel = Kernel(start=0.0)
    seen: list[float] = []
    kernel.spawn(lambda: [kernel.sleep(1.0) or seen.append(kernel.now) for _ in range(5)])
    kernel.run(until=2.5)
    assert seen == [1.0, 2.0]
    kernel.run(until=10.0)
    assert seen == [1.0, 2.0, 3.0, 4.0, 5.0]
