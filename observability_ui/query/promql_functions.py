"""The numeric heart of the PromQL engine: range-vector functions, bucket quantiles and float helpers.

The algorithms follow Prometheus 3 (promql/functions.go and promql/quantile.go) so that numbers shown in
the simulator match what the candidate would see in a real Prometheus: range windows are left-open
``(t - range, t]``, and rate/increase/delta extrapolate towards the window boundaries.

A range kernel takes the :class:`Windows` of every matched series at every step and returns a value
and a presence flag for each, computed with numpy over all of them at once: window bounds come from
binary search on the sorted timestamps, so a query costs O(series * steps * log(samples)) in C plus
whatever the function needs inside a window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from observability_ui.query import budget
from observability_ui.query.promql_reduce import (
    Terms,
    compensated_mean,
    compensated_sum,
    compensated_variance,
    quantile,
)

Array = np.ndarray
KernelResult = tuple[
    Array, Array
]  # values and whether there is a value: one row per series, one column per step
Reducer = Callable[[Sequence[float]], float]

SCRAPE_SLACK_S = 1e-3  # scrape times are written as floats: equal within a millisecond
EXTRAPOLATION_SLACK = 1.1  # a boundary gap up to 110% of the average sample spacing counts as "no gap"


@dataclass(frozen=True)
class Windows:
    """The left-open windows ``(end - range, end]`` of many series at many steps, as index bounds.

    The series' samples are concatenated into ``timestamps`` and ``values``; ``lo[i, j]`` and ``hi[i, j]``
    bound series ``i``'s samples in the window ending at step ``j`` (empty when equal).  Every kernel then
    works on all series and steps at once, so a dashboard over thousands of histogram buckets costs a few
    array operations, not a Python loop per series and step.  Only the samples some window holds are
    concatenated (an instant query over a minute copies a minute of each series, not the recording);
    ``starts`` are where each series begins in the concatenation.
    """

    timestamps: Array
    values: Array
    lo: Array
    hi: Array
    ends: Array
    range_seconds: float
    starts: Array

    @classmethod
    def of(cls, series: Sequence[tuple[Array, Array]], ends: Array, range_seconds: float) -> Windows:
        """Windows over ``(timestamps, values)`` pairs, each in ascending time."""
        shape = (len(series), len(ends))
        if not series or not len(ends):  # nothing to read: no series, or no step
            empty = np.zeros(shape, np.int64)
            return cls(
                np.zeros(0),
                np.zeros(0),
                empty,
                empty,
                np.broadcast_to(ends, shape),
                range_seconds,
                np.zeros(0, np.int64),
            )
        # Edges in whole milliseconds, as Prometheus keeps every time: in float seconds a window's
        # start (end - range) can land a rounding below a sample that should be left out.
        end_ms = milliseconds(ends)
        start_ms = end_ms - round(range_seconds * 1000)
        bounds: dict[int, tuple[Array, Array]] = {}  # per timestamps array: series scraped together share one
        for timestamps, _ in series:
            if id(timestamps) not in bounds:
                sampled = milliseconds(timestamps)
                bounds[id(timestamps)] = (
                    np.searchsorted(sampled, start_ms, side="right"),
                    np.searchsorted(sampled, end_ms, side="right"),
                )
        # Each series from its first sample in any window to its last: (first, last + 1).
        kept = {key: (int(lo.min()), int(hi.max())) for key, (lo, hi) in bounds.items()}
        cuts = [kept[id(timestamps)] for timestamps, _ in series]
        lengths = np.array([max(stop - first, 0) for first, stop in cuts], dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        lo = np.array([bounds[id(t)][0] - kept[id(t)][0] for t, _ in series], dtype=np.int64)
        hi = np.array([bounds[id(t)][1] - kept[id(t)][0] for t, _ in series], dtype=np.int64)
        return cls(
            timestamps=np.concatenate(
                [t[first:stop] for (t, _), (first, stop) in zip(series, cuts, strict=True)]
            ),
            values=np.concatenate(
                [v[first:stop] for (_, v), (first, stop) in zip(series, cuts, strict=True)]
            ),
            lo=lo.reshape(shape) + starts[:, None],
            hi=hi.reshape(shape) + starts[:, None],
            ends=np.broadcast_to(ends, shape),
            range_seconds=range_seconds,
            starts=starts,
        )


RangeKernel = Callable[[Windows], KernelResult]


def milliseconds(seconds: Array) -> Array:
    """Epoch seconds as whole milliseconds (int64), the unit Prometheus compares times in."""
    return np.round(np.asarray(seconds) * 1000).astype(np.int64)


def latest(windows: Windows) -> KernelResult:
    """The newest sample in each window: an instant selector's value, staleness aside."""
    present = windows.hi > windows.lo
    if not len(windows.values):
        return np.zeros(present.shape), present
    return windows.values[np.maximum(windows.hi - 1, 0)], present


def earliest(windows: Windows) -> KernelResult:
    """The oldest sample in each window: first_over_time."""
    present = windows.hi > windows.lo
    if not len(windows.values):
        return np.zeros(present.shape), present
    return windows.values[np.minimum(windows.lo, len(windows.values) - 1)], present


def latest_time(windows: Windows) -> KernelResult:
    """The timestamp of the newest sample in each window: what ``timestamp(selector)`` answers."""
    present = windows.hi > windows.lo
    if not len(windows.timestamps):
        return np.zeros(present.shape), present
    return windows.timestamps[np.maximum(windows.hi - 1, 0)], present


def instant(intervals: Array, last_scrape: float, pick: RangeKernel = latest) -> RangeKernel:
    """The instant-selector value at each end: the newest sample in the lookback window, unless the
    series has gone stale since.

    Prometheus writes a staleness marker at the first scrape a series is missing from (a release
    that no longer exports it, a label value that is gone), and an instant selector finds nothing
    from there on instead of repeating the old value for the whole lookback.  Datasets hold one
    sample per series per scrape, so a series missed the scrape ``intervals[i]`` seconds after its
    newest sample when that scrape happened (at or before ``last_scrape``) and the window's newest
    sample is still the old one.  ``pick`` reads the newest sample: its value, or its time.
    """

    def kernel(windows: Windows) -> KernelResult:
        values, present = pick(windows)
        if not len(windows.values):
            return values, present
        next_scrape = windows.timestamps[np.maximum(windows.hi - 1, 0)] + intervals[:, None]
        stale = (windows.ends >= next_scrape - SCRAPE_SLACK_S) & (next_scrape <= last_scrape + SCRAPE_SLACK_S)
        return values, present & ~stale

    return kernel


def extrapolated_rate(is_counter: bool, is_rate: bool) -> RangeKernel:
    """rate (counter, per second), increase (counter) or delta (gauge), as Prometheus's extrapolatedRate.

    Reset-corrected running values make each window's corrected difference one subtraction, and the
    boundary extrapolation is the same arithmetic as Prometheus's, elementwise.
    """

    def kernel(windows: Windows) -> KernelResult:
        last = windows.hi - 1
        present = last - windows.lo >= 1  # two samples at least, or there is no slope
        out = np.zeros(present.shape)
        if not present.any():
            return out, present
        lo, last, ends = windows.lo[present], last[present], windows.ends[present]
        timestamps, values, range_seconds = windows.timestamps, windows.values, windows.range_seconds
        first_time, last_time, first_value = timestamps[lo], timestamps[last], values[lo]
        result = values[last] - values[lo]
        if is_counter:
            resets = _resets(values, windows.starts)
            result = result + (resets[last] - resets[lo])
        sampled = last_time - first_time
        average = sampled / (last - lo)
        threshold = average * EXTRAPOLATION_SLACK
        to_start = first_time - (ends - range_seconds)
        to_start = np.where(to_start >= threshold, average / 2, to_start)
        if is_counter:
            # A counter is never extrapolated below zero: it cannot have started before its zero point.
            limit = (result > 0) & (first_value >= 0)
            zero_point = sampled * (first_value / np.where(limit, result, 1.0))
            to_start = np.where(limit, np.minimum(to_start, zero_point), to_start)
        to_end = ends - last_time
        to_end = np.where(to_end >= threshold, average / 2, to_end)
        increase = result * (sampled + to_start + to_end) / sampled
        out[present] = increase / range_seconds if is_rate else increase
        return out, present

    return kernel


def _resets(values: Array, starts: Array) -> Array:
    """At each sample, everything its series lost to counter resets so far (a drop means the counter
    restarted at 0, having counted the value before it).  A window's reset-corrected increase is its
    last value minus its first plus the difference of these, as Prometheus adds each reset's loss;
    with no reset inside the window that difference is exactly 0, so the answer does not depend on
    what else was read with it.  The step from one series to the next is not a reset."""
    if len(values) < 2:
        return np.zeros(len(values))
    dropped = np.where(values[1:] < values[:-1], values[:-1], 0.0)
    between = starts[1:] - 1  # the step into each series but the first (none for an empty first one)
    dropped[between[(between >= 0) & (between < len(dropped))]] = 0.0
    return np.concatenate(([0.0], np.cumsum(dropped)))


def per_window(function: Callable[..., float | None], params: Array | None = None) -> RangeKernel:
    """A kernel from a function of one window's ``timestamps``, ``values`` and end (None: no value),
    and of the window's step's entry of ``params`` when given (a parameter that changes with time)."""

    def kernel(windows: Windows) -> KernelResult:
        out = np.zeros(windows.lo.shape)
        present = np.zeros(windows.lo.shape, dtype=bool)
        bounds = zip(windows.lo.ravel().tolist(), windows.hi.ravel().tolist(), strict=True)
        extra = [()] * out.size if params is None else [(p,) for p in np.broadcast_to(params, out.shape).flat]
        cells = budget.checked(
            zip(bounds, windows.ends.ravel().tolist(), extra, strict=True), every=budget.CHECK_EVERY
        )
        for index, ((lo, hi), end, param) in enumerate(cells):
            result = function(windows.timestamps[lo:hi], windows.values[lo:hi], end, *param)
            if result is not None:
                out.flat[index], present.flat[index] = result, True
        return out, present

    return kernel


def instant_value(is_rate: bool) -> RangeKernel:
    """irate (per-second, reset-aware) or idelta: from the last two samples of each window."""

    def last_two(timestamps: Array, values: Array, _: float) -> float | None:
        if len(values) < 2:
            return None
        previous, last = float(values[-2]), float(values[-1])
        result = last if is_rate and last < previous else last - previous
        return result / float(timestamps[-1] - timestamps[-2]) if is_rate else result

    return per_window(last_two)


def over_time(reduce: Reducer) -> RangeKernel:
    """An ``*_over_time`` function: ``reduce`` applied to the values in each non-empty window."""
    return per_window(lambda _, values, __: reduce(values.tolist()) if len(values) else None)


def window_terms(windows: Windows) -> Iterator[tuple[Array, Array]]:
    """Every window's values as terms of a reduction: the first sample of each window, then the
    second, ..., each with whether that window has so many samples."""
    lengths = windows.hi - windows.lo
    for position in range(int(lengths.max(initial=0))):
        present = lengths > position
        yield windows.values[np.where(present, windows.lo + position, 0)], present


def reduced(reduce: Callable[[Terms, tuple[int, ...]], tuple[Array, Array]]) -> RangeKernel:
    """A kernel reducing each window's values at once (a compensated variance, say): the
    reduction runs once per position inside the windows, over all series and steps together."""

    def kernel(windows: Windows) -> KernelResult:
        values, count = reduce(window_terms(windows), windows.lo.shape)
        return values, count > 0

    return kernel


def compensated_over_time(mean: bool) -> RangeKernel:
    """sum_over_time, or avg_over_time when ``mean``: compensated as Prometheus's, computed from prefix
    sums where they are exact (whole numbers whose running total stays below 2**52: counters and bucket
    counts), which is the same number, and by the compensated reductions otherwise."""
    reduce = compensated_mean if mean else compensated_sum

    def kernel(windows: Windows) -> KernelResult:
        counts = windows.hi - windows.lo
        values = windows.values
        magnitude = float(np.abs(values).sum()) if len(values) else 0.0
        if magnitude < 2.0**52 and bool(np.all(np.mod(values, 1.0) == 0)):  # NaN and ±Inf fail this
            prefix = np.concatenate(([0.0], np.cumsum(values)))
            sums = prefix[windows.hi] - prefix[windows.lo]
            return (sums / np.maximum(counts, 1) if mean else sums), counts > 0
        return reduce(window_terms(windows), counts.shape)[0], counts > 0

    return kernel


def standard_deviation(terms: Terms, shape: tuple[int, ...]) -> tuple[Array, Array]:
    variance, count = compensated_variance(terms, shape)
    return np.sqrt(variance), count


def pairwise_count(counts: Callable[[Array, Array], Array]) -> RangeKernel:
    """changes or resets: how many neighbouring samples inside each window ``counts`` flags (previous
    and next values given); a window with one sample has 0, an empty one no value."""

    def kernel(windows: Windows) -> KernelResult:
        present = windows.hi > windows.lo
        values = windows.values
        if len(values) < 2:
            return np.zeros(present.shape), present
        running = np.concatenate(([0], np.cumsum(counts(values[:-1], values[1:]))))
        first = np.minimum(windows.lo, len(values) - 1)  # an empty window may start past the end
        last = np.maximum(windows.hi - 1, first)  # pairs (k, k+1) with lo <= k < hi - 1
        return (running[last] - running[first]).astype(np.float64), present

    return kernel


def changed(previous: Array, following: Array) -> Array:
    """A change, as Prometheus's changes counts it: a different value, two NaNs being the same."""
    return (previous != following) & ~(np.isnan(previous) & np.isnan(following))


def present_over_time(windows: Windows) -> KernelResult:
    present = windows.hi > windows.lo
    return np.ones(present.shape), present


def quantile_over_time(qs: Array) -> RangeKernel:
    """quantile_over_time(q, v[range]): the q-quantile (``qs`` per step) of each window's values."""
    return per_window(lambda _, values, __, q: quantile(q, values.tolist()) if len(values) else None, qs)


def linear_regression(timestamps: Array, values: Array, origin: float) -> tuple[float, float] | None:
    """The least-squares line through a window's samples, as Prometheus's linearRegression: its slope
    per second and its value at ``origin``; None under two samples, through which no line is fitted.

    Times are taken relative to ``origin`` so that their squares keep their precision; constant values
    give a flat line (NaN for a constant infinity) rather than a slope computed from float noise.
    """
    if len(values) < 2:
        return None
    if (values == values[0]).all():
        return (math.nan, math.nan) if math.isinf(values[0]) else (0.0, float(values[0]))
    x = timestamps - origin
    n, sum_x, sum_y = len(values), float(x.sum()), float(values.sum())
    covariance = float((x * values).sum()) - sum_x * sum_y / n
    variance = float((x * x).sum()) - sum_x * sum_x / n
    slope = divide(covariance, variance)
    return slope, sum_y / n - slope * sum_x / n


def deriv(timestamps: Array, values: Array, _: float) -> float | None:
    """deriv: the regression's slope per second; Prometheus takes times relative to the first
    sample, which changes nothing but the rounding."""
    line = linear_regression(timestamps, values, float(timestamps[0]) if len(timestamps) else 0.0)
    return None if line is None else line[0]


def predict_linear(seconds: Array) -> RangeKernel:
    """predict_linear(v[range], seconds): the regression line's value ``seconds`` (per step) after the
    window's end.  Prometheus predicts from the evaluation time, which an offset or ``@`` moves away
    from the window's end: that difference is the caller's to add to ``seconds``."""

    def predict(timestamps: Array, values: Array, end: float, ahead: float) -> float | None:
        line = linear_regression(timestamps, values, end)
        return None if line is None else line[0] * ahead + line[1]

    return per_window(predict, seconds)


def nan_aware(pick: Callable[[Sequence[float]], float]) -> Reducer:
    """min/max as Prometheus computes them: NaN only wins when there is nothing else."""

    def reduce(values: Sequence[float]) -> float:
        numbers = [value for value in values if not math.isnan(value)]
        return pick(numbers) if numbers else math.nan

    return reduce


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
    "avg_over_time": compensated_over_time(mean=True),
    "sum_over_time": compensated_over_time(mean=False),
    "count_over_time": over_time(count),
    "deriv": per_window(deriv),
    "changes": pairwise_count(changed),
    "resets": pairwise_count(lambda previous, following: following < previous),
    "last_over_time": latest,
    "first_over_time": earliest,
    "present_over_time": present_over_time,
    "stddev_over_time": reduced(standard_deviation),
    "stdvar_over_time": reduced(compensated_variance),
}


def bucket_quantiles(q: float, bounds: Sequence[float], counts: Array) -> Array:
    """The q-quantile of a classic histogram at every step: ``counts[i, j]`` is the cumulative count of
    the bucket with upper bound ``bounds[i]`` (sorted ascending) at step ``j``.

    Follows Prometheus's bucketQuantile: buckets with the same bound are merged, float noise between
    neighbouring counts is flattened and counts are made monotonic; then linear interpolation inside the
    bucket holding the rank, a lower bound of 0 for the first bucket (if its upper bound is positive),
    and the second-highest bound when the rank falls into the +Inf bucket.  Without a +Inf bucket or
    observations the answer is NaN.
    """
    steps = counts.shape[1]
    if math.isnan(q):
        return np.full(steps, math.nan)
    if q < 0 or q > 1:
        return np.full(steps, -math.inf if q < 0 else math.inf)
    if not len(bounds) or bounds[-1] != math.inf:
        return np.full(steps, math.nan)
    unique, position = np.unique(np.asarray(bounds, dtype=np.float64), return_inverse=True)
    merged = np.zeros((len(unique), steps))
    np.add.at(merged, position, counts)
    merged = np.maximum.accumulate(_correct_precision(merged), axis=0)
    if len(unique) < 2:
        return np.full(steps, math.nan)
    total = merged[-1]
    rank = q * total
    index = np.argmax(merged >= rank, axis=0)  # the last row always qualifies: it is the maximum
    columns = np.arange(steps)
    previous = np.where(index > 0, merged[np.maximum(index - 1, 0), columns], 0.0)
    start = np.where(index > 0, unique[np.maximum(index - 1, 0)], 0.0)
    end = unique[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = start + (end - start) * ((rank - previous) / (merged[index, columns] - previous))
    result = np.where(index == len(unique) - 1, unique[-2], inside)
    result = np.where((index == 0) & (unique[0] <= 0), unique[0], result)
    return np.where(total == 0, math.nan, result)


def bucket_fraction(lower: float, upper: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """The fraction of a classic histogram's observations between ``lower`` and ``upper`` (cumulative
    ``counts`` of the buckets with upper bounds ``bounds``), as Prometheus's BucketFraction: buckets with
    the same bound are merged, the ranks at both ends interpolated linearly inside their buckets (the
    first one starting at 0 if its bound is positive, at -Inf otherwise); a bucket with an infinite
    side contributes nothing of its inside.  Without a +Inf bucket or observations the answer is NaN.
    """
    merged: dict[float, float] = {}
    for bound, count in sorted(zip(bounds, counts, strict=True)):
        merged[bound] = merged.get(bound, 0.0) + count
    buckets = sorted(merged.items())
    if not buckets or buckets[-1][0] != math.inf:
        return math.nan
    total = buckets[-1][1]
    if total == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    rank = 0.0
    ranks: dict[str, float] = {}  # "lower" and "upper", once found
    for index, (upper_bound, count) in enumerate(buckets):
        lower_bound = buckets[index - 1][0] if index else (0.0 if upper_bound > 0 else -math.inf)
        for name, value in (("lower", lower), ("upper", upper)):
            if name not in ranks and lower_bound >= value:  # the value is at this bucket's lower edge
                ranks[name] = rank
        for name, value in (("lower", lower), ("upper", upper)):
            if name not in ranks and lower_bound < value < upper_bound:
                inside = (
                    count
                    if lower_bound == -math.inf
                    else (rank + (count - rank) * (value - lower_bound) / (upper_bound - lower_bound))
                )
                ranks[name] = inside
        if len(ranks) == 2:
            break
        rank = count
    low, high = (min(ranks.get(name, total), total) for name in ("lower", "upper"))
    return (high - low) / total


def _correct_precision(counts: Array, tolerance: float = 1e-12) -> Array:
    """Flatten float noise between neighbouring counts, which would otherwise look non-monotonic."""
    counts = counts.copy()
    for row in range(1, len(counts)):
        delta = np.abs(counts[row] - counts[row - 1])
        noise = (delta != 0) & (delta <= tolerance * counts[row])
        counts[row] = np.where(noise, counts[row - 1], counts[row])
    return counts


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
