"""The numeric heart of the PromQL engine: range-vector functions, bucket quantiles and float helpers.

The algorithms follow Prometheus 3 (promql/functions.go and promql/quantile.go) so that numbers shown in
the simulator match what the candidate would see in a real Prometheus: range windows are left-open
``(t - range, t]``, and rate/increase/delta extrapolate towards the window boundaries.

A range kernel takes one series' samples and all window end times and returns one value (or ``None``)
per window.  Kernels walk windows with bisect on the sorted timestamps, so a query costs
O(steps * log(samples)) per series plus whatever the function needs inside a window.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence

RangeKernel = Callable[[Sequence[float], Sequence[float], Sequence[float], float], list[float | None]]
Reducer = Callable[[Sequence[float]], float]

EXTRAPOLATION_SLACK = 1.1  # a boundary gap up to 110% of the average sample spacing counts as "no gap"


def windows(
    timestamps: Sequence[float], ends: Sequence[float], range_seconds: float
) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` sample index bounds of the left-open window ``(end - range, end]`` for each end."""
    starts = [bisect_right(timestamps, end - range_seconds) for end in ends]
    stops = [bisect_right(timestamps, end) for end in ends]
    return zip(starts, stops, strict=True)


def latest(
    timestamps: Sequence[float], values: Sequence[float], ends: Sequence[float], lookback: float
) -> list[float | None]:
    """The instant-selector value at each end: the newest sample in ``(end - lookback, end]``."""
    return [values[hi - 1] if hi > lo else None for lo, hi in windows(timestamps, ends, lookback)]


def extrapolated_rate(is_counter: bool, is_rate: bool) -> RangeKernel:
    """rate (counter, per second), increase (counter) or delta (gauge), as Prometheus's extrapolatedRate."""

    def kernel(
        timestamps: Sequence[float], values: Sequence[float], ends: Sequence[float], range_seconds: float
    ) -> list[float | None]:
        # Reset-corrected running values make each window's corrected difference an O(1) subtraction.
        adjusted = _reset_adjusted(values) if is_counter else values
        results: list[float | None] = []
        for end, (lo, hi) in zip(ends, windows(timestamps, ends, range_seconds), strict=True):
            last = hi - 1
            if last - lo < 1:  # fewer than two samples: no slope
                results.append(None)
                continue
            increase = _extrapolate(
                timestamps[lo],
                timestamps[last],
                values[lo],
                adjusted[last] - adjusted[lo],
                last - lo,
                (end - range_seconds, end),
                is_counter,
            )
            results.append(increase / range_seconds if is_rate else increase)
        return results

    return kernel


def _reset_adjusted(values: Sequence[float]) -> list[float]:
    """Values plus everything lost to earlier counter resets (a drop means the counter restarted at 0)."""
    adjusted: list[float] = []
    correction = 0.0
    previous = values[0] if values else 0.0
    for value in values:
        if value < previous:
            correction += previous
        adjusted.append(value + correction)
        previous = value
    return adjusted


def _extrapolate(
    first_time: float,
    last_time: float,
    first_value: float,
    result: float,
    intervals: int,
    bounds: tuple[float, float],
    is_counter: bool,
) -> float:
    """Scale the sampled difference to the whole window, as far as the samples suggest the series extends.

    A boundary closer than ~1.1 average sample spacings is assumed covered; otherwise the series is assumed
    to start or end half a spacing beyond its outermost sample.  A counter is never extrapolated below zero.
    """
    duration_to_start = first_time - bounds[0]
    duration_to_end = bounds[1] - last_time
    sampled = last_time - first_time
    average = sampled / intervals
    threshold = average * EXTRAPOLATION_SLACK
    if duration_to_start >= threshold:
        duration_to_start = average / 2
    if is_counter and result > 0 and first_value >= 0:
        duration_to_start = min(duration_to_start, sampled * (first_value / result))
    if duration_to_end >= threshold:
        duration_to_end = average / 2
    return result * (sampled + duration_to_start + duration_to_end) / sampled


def instant_value(is_rate: bool) -> RangeKernel:
    """irate (per-second, reset-aware) or idelta: from the last two samples of each window."""

    def kernel(
        timestamps: Sequence[float], values: Sequence[float], ends: Sequence[float], range_seconds: float
    ) -> list[float | None]:
        results: list[float | None] = []
        for lo, hi in windows(timestamps, ends, range_seconds):
            if hi - lo < 2:
                results.append(None)
                continue
            previous, last = values[hi - 2], values[hi - 1]
            result = last if is_rate and last < previous else last - previous
            results.append(result / (timestamps[hi - 1] - timestamps[hi - 2]) if is_rate else result)
        return results

    return kernel


def over_time(reduce: Reducer) -> RangeKernel:
    """An ``*_over_time`` function: ``reduce`` applied to the values in each non-empty window."""

    def kernel(
        timestamps: Sequence[float], values: Sequence[float], ends: Sequence[float], range_seconds: float
    ) -> list[float | None]:
        return [
            reduce(values[lo:hi]) if hi > lo else None for lo, hi in windows(timestamps, ends, range_seconds)
        ]

    return kernel


def nan_aware(pick: Callable[[Sequence[float]], float]) -> Reducer:
    """min/max as Prometheus computes them: NaN only wins when there is nothing else."""

    def reduce(values: Sequence[float]) -> float:
        numbers = [value for value in values if not math.isnan(value)]
        return pick(numbers) if numbers else math.nan

    return reduce


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def count(values: Sequence[float]) -> float:
    return float(len(values))


RANGE_FUNCTIONS: dict[str, RangeKernel] = {
    "rate": extrapolated_rate(is_counter=True, is_rate=True),
    "increase": extrapolated_rate(is_counter=True, is_rate=False),
    "delta": extrapolated_rate(is_counter=False, is_rate=False),
    "irate": instant_value(is_rate=True),
    "idelta": instant_value(is_rate=False),
    "max_over_time": over_time(nan_aware(max)),
    "min_over_time": over_time(nan_aware(min)),
    "avg_over_time": over_time(mean),
    "sum_over_time": over_time(sum),
    "count_over_time": over_time(count),
}


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The q-quantile of a classic histogram given ``(upper_bound, cumulative_count)`` sorted by bound.

    Follows bucketQuantile: linear interpolation inside the bucket holding the rank, a lower bound of 0
    for the first bucket (if its upper bound is positive), and the second-highest bound when the rank
    falls into the +Inf bucket.  Without a +Inf bucket or observations the answer is NaN.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not buckets or buckets[-1][0] != math.inf:
        return math.nan
    coalesced = _coalesce(buckets)
    bounds = [bound for bound, _ in coalesced]
    counts = _monotonic(_correct_precision([cumulative for _, cumulative in coalesced]))
    if len(counts) < 2 or counts[-1] == 0:
        return math.nan
    rank = q * counts[-1]
    index = next(i for i, cumulative in enumerate(counts) if cumulative >= rank or i == len(counts) - 1)
    if index == len(counts) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start, in_bucket = 0.0, counts[index]
    if index > 0:
        start = bounds[index - 1]
        in_bucket -= counts[index - 1]
        rank -= counts[index - 1]
    return start + (bounds[index] - start) * (rank / in_bucket)


def _coalesce(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge buckets with the same upper bound (e.g. ``le="1"`` and ``le="1.0"``)."""
    merged: list[tuple[float, float]] = []
    for bound, cumulative in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1] = (bound, merged[-1][1] + cumulative)
        else:
            merged.append((bound, cumulative))
    return merged


def _correct_precision(counts: list[float], tolerance: float = 1e-12) -> list[float]:
    """Flatten float noise between neighbouring counts, which would otherwise look non-monotonic."""
    counts = list(counts)
    previous = counts[0]
    for index in range(1, len(counts)):
        delta = abs(counts[index] - previous)
        if delta == 0:
            continue
        if delta <= tolerance * counts[index]:
            counts[index] = previous
        else:
            previous = counts[index]
    return counts


def _monotonic(counts: list[float]) -> list[float]:
    """The envelope of the counts: cumulative counts can only grow with the upper bound."""
    highest = counts[0]
    envelope = []
    for cumulative in counts:
        highest = max(highest, cumulative)
        envelope.append(highest)
    return envelope


def divide(dividend: float, divisor: float) -> float:
    """IEEE division as Go does it: x/0 is ±Inf and 0/0 is NaN instead of an exception."""
    if divisor == 0:
        if dividend == 0 or math.isnan(dividend):
            return math.nan
        return math.copysign(math.inf, dividend) * math.copysign(1.0, divisor)
    return dividend / divisor


def clamp(value: float, low: float, high: float) -> float:
    """Go's math.Max(low, math.Min(high, value)), which propagates NaN from any argument."""
    if math.isnan(value) or math.isnan(low) or math.isnan(high):
        return math.nan
    return max(low, min(high, value))
