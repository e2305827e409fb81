"""Reductions shared by the aggregation operators and the ``*_over_time`` functions, as Prometheus 3
computes them (promql/engine.go's aggregation, promql/functions.go, util/kahansum).

Both reduce many values per cell of a grid at once: an aggregation reduces a group's member series at
every step, a range function the samples of every series' window at every step.  The values arrive as
*terms*: one ``(values, present)`` pair of arrays per member (or per position inside the windows), each
shaped like the result, so the per-value loop of Prometheus becomes one numpy operation per member.

Prometheus sums with Neumaier's compensated (Kahan) summation, so ``sum`` of 2, 8, 1e100 and -1e100 is 10,
not 0, and takes means as the compensated sum over the count, switching to an incremental mean where the
sum would overflow.  Variances are Welford's, with compensation in ``stdvar_over_time`` and without it in
``stdvar``, as in Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

Array = np.ndarray
Terms = Iterable[tuple[Array, Array]]  # (values, present) per member, each shaped like the result


def neumaier(increment: Array, total: Array, compensation: Array) -> tuple[Array, Array]:
    """kahansum.Inc elementwise: ``total + increment`` and the rounding error it lost, added up in
    ``compensation`` (reset where the total overflows, as Prometheus does)."""
    with np.errstate(invalid="ignore", over="ignore"):
        new_total = total + increment
        lost = np.where(
            np.abs(total) >= np.abs(increment),
            (total - new_total) + increment,
            (increment - new_total) + total,
        )
        return new_total, np.where(np.isinf(new_total), 0.0, compensation + lost)


def compensated_sum(terms: Terms, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """The compensated sum of the present values in each cell, and how many there were."""
    total, compensation, count = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for values, present in terms:
        first = present & (count == 0)
        added, lost = neumaier(values, total, compensation)
        total = np.where(first, values, np.where(present, added, total))
        compensation = np.where(present & ~first, lost, compensation)
        count += present
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(total), total, total + compensation), count


def compensated_mean(terms: Terms, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """The mean of the present values in each cell (and their count): the compensated sum over the
    count while the sum stays finite, an incremental mean from the value that would overflow it."""
    total, compensation, count = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    mean = np.zeros(shape)
    incremental = np.zeros(shape, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for values, present in terms:
            count += present
            first = present & (count == 1)
            added, lost = neumaier(values, total, compensation)
            direct = present & ~first & ~incremental
            overflow = direct & np.isinf(added)
            keep = direct & ~overflow
            total = np.where(first, values, np.where(keep, added, total))
            compensation = np.where(keep, lost, compensation)
            # Cells overflowing now carry on with the mean so far, and then every later value.
            mean = np.where(overflow, total / (count - 1), mean)
            compensation = np.where(overflow, compensation / (count - 1), compensation)
            incremental |= overflow
            step = present & incremental
            share = (count - 1) / np.maximum(count, 1)
            stepped_mean, stepped_compensation = neumaier(
                values / np.maximum(count, 1), share * mean, share * compensation
            )
            mean = np.where(step, stepped_mean, mean)
            compensation = np.where(step, stepped_compensation, compensation)
        direct_mean = total / count + compensation / count
        return np.where(incremental, mean + compensation, direct_mean), count


def welford_variance(terms: Terms, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """``stdvar``'s population variance per cell, Welford's running algorithm without compensation:
    a non-finite first value makes the group's variance NaN, as in Prometheus's aggregation."""
    mean, squares, count = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for values, present in terms:
            count += present
            first = present & (count == 1)
            delta = values - mean
            moved = mean + delta / np.maximum(count, 1)
            grown = squares + delta * (values - moved)
            mean = np.where(first, values, np.where(present, moved, mean))
            squares = np.where(
                first, np.where(np.isfinite(values), 0.0, math.nan), np.where(present, grown, squares)
            )
        return squares / count, count


def compensated_variance(terms: Terms, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """``stdvar_over_time``'s population variance per cell: Welford's algorithm with the running mean
    and sum of squares both compensated, as Prometheus's varianceOverTime."""
    mean, mean_c, squares, squares_c = (np.zeros(shape) for _ in range(4))
    count = np.zeros(shape)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for values, present in terms:
            count += present
            delta = values - (mean + mean_c)
            new_mean, new_mean_c = neumaier(delta / np.maximum(count, 1), mean, mean_c)
            new_squares, new_squares_c = neumaier(
                delta * (values - (new_mean + new_mean_c)), squares, squares_c
            )
            mean, mean_c = np.where(present, new_mean, mean), np.where(present, new_mean_c, mean_c)
            squares = np.where(present, new_squares, squares)
            squares_c = np.where(present, new_squares_c, squares_c)
        return (squares + squares_c) / count, count


def quantile(q: float, values: Sequence[float]) -> float:
    """The φ-quantile of ``values`` by linear interpolation between the closest ranks, as Prometheus's
    quantile (promql/quantile.go): NaN sorts first, a q outside [0, 1] gives ∓Inf, NaN q gives NaN."""
    if not len(values) or math.isnan(q):
        return math.nan
    if q < 0 or q > 1:
        return -math.inf if q < 0 else math.inf
    ordered = sorted(values, key=lambda value: (not math.isnan(value), value))
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight
