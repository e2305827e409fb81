"""Export metrics as one OpenMetrics text exposition with explicit timestamps.

The output is meant for ``promtool tsdb create-blocks-from openmetrics``, which backfills every scrape
of every series.  OpenMetrics 1.0 forbids interleaving at three levels: MetricFamilies, Metrics (a
labelset within a family) and MetricPoints (the samples of one Metric at one timestamp, e.g. all of a
histogram's ``_bucket``/``_count``/``_sum``), and a Metric's MetricPoints must have increasing
timestamps.  Neither "series by series" (it would split a histogram's MetricPoints apart) nor "scrape by
scrape across the family" (it would interleave Metrics) satisfies that, so the nesting here is:
family -> Metric -> timestamp -> the samples of that MetricPoint in their canonical order.

Only one Metric's samples at one timestamp are held in memory; everything else streams from SQLite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from obsim.dataset.exporters._atomic import atomic_text_file
from obsim.dataset.reader import Dataset, MetricFamily, MetricSeries

# The label that distinguishes the samples within one MetricPoint, per family type.
POINT_LABELS = {"histogram": "le", "gaugehistogram": "le", "summary": "quantile"}
# Where a sample goes within its MetricPoint: buckets/quantiles/values first, then these, in this order.
SUFFIX_RANKS = {"_count": 1, "_gcount": 1, "_sum": 2, "_gsum": 2, "_created": 3}
# Sample names OpenMetrics requires for families whose value sample is stored under the bare family name.
REQUIRED_SUFFIXES = {"counter": "_total", "info": "_info"}


def export(dataset: Dataset, out: Path) -> None:
    """Write every metric family of ``dataset`` to the file ``out``."""
    with atomic_text_file(out) as handle:
        for family in dataset.metric_families():
            _write_family(dataset, family, handle)
        handle.write("# EOF\n")


def _write_family(dataset: Dataset, family: MetricFamily, handle: TextIO) -> None:
    handle.write(f"# TYPE {family.name} {family.type}\n")
    if family.unit:
        handle.write(f"# UNIT {family.name} {family.unit}\n")
    handle.write(f"# HELP {family.name} {_escape(family.help)}\n")
    for metric in _metrics(family, dataset.metric_series(family.name)):
        _write_metric(dataset, family, metric, handle)


def _metrics(family: MetricFamily, series: Iterable[MetricSeries]) -> list[list[MetricSeries]]:
    """Group a family's series into Metrics, ordered by labelset, each in MetricPoint sample order."""
    point_label = _point_label(family)
    metrics: dict[tuple[tuple[str, str], ...], list[MetricSeries]] = {}
    for one in series:
        key = tuple((name, value) for name, value in one.labels.items() if name != point_label)
        metrics.setdefault(key, []).append(one)
    order = partial(_position_in_point, family, point_label)
    return [sorted(metrics[key], key=order) for key in sorted(metrics)]


def _write_metric(dataset: Dataset, family: MetricFamily, metric: list[MetricSeries], handle: TextIO) -> None:
    """Write one Metric's MetricPoints in timestamp order, each point's samples together."""
    prefixes = {one.id: _sample_prefix(family, one) for one in metric}
    position = {one.id: index for index, one in enumerate(metric)}
    for ts, rows in groupby(dataset.metric_samples(list(prefixes)), key=itemgetter(1)):
        stamp = repr(float(ts))
        for series_id, _, value in sorted(rows, key=lambda row: position[row[0]]):
            handle.write(f"{prefixes[series_id]} {_number(value)} {stamp}\n")


def _point_label(family: MetricFamily) -> str | None:
    # A stateset's states are told apart by a label named after the family itself.
    return family.name if family.type == "stateset" else POINT_LABELS.get(family.type)


def _position_in_point(
    family: MetricFamily, point_label: str | None, series: MetricSeries
) -> tuple[int, float, str]:
    """Sort key within a MetricPoint: buckets by numeric ``le`` (+Inf last), then _count, _sum, _created."""
    bound = series.labels.get(point_label, "") if point_label else ""
    try:
        numeric = float(bound)
    except ValueError:
        numeric = 0.0
    return SUFFIX_RANKS.get(series.sample_name[len(family.name) :], 0), numeric, bound


def _sample_prefix(family: MetricFamily, series: MetricSeries) -> str:
    """``name{labels}`` of a sample line: rendered once per series, reused for every timestamp."""
    name = series.sample_name
    if name == family.name:
        name += REQUIRED_SUFFIXES.get(family.type, "")
    if not series.labels:
        return name
    labels = ",".join(f'{key}="{_escape(value)}"' for key, value in series.labels.items())
    return f"{name}{{{labels}}}"


def _escape(text: str) -> str:
    """OpenMetrics escaped-string: backslash, double quote and line feed (HELP and label values)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
