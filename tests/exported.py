"""Reading the exports the way an outside tool would: OpenMetrics text and JSON lines.

Kept independent of obsim's own figure code, so the symptom tests check the exported telemetry
rather than agree with the code that produced it.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+) (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = dict[tuple[str, frozenset], list[tuple[float, float]]]


@dataclass
class Metrics:
    series: Series

    @classmethod
    def parse(cls, path: Path) -> Metrics:
        series: Series = defaultdict(list)
        with open(path) as handle:
            for line in handle:
                if line.startswith("#"):
                    continue
                match = _SAMPLE.match(line.rstrip("\n"))
                if match is None:
                    continue
                name, labels, value, ts = match.groups()
                key = frozenset(_LABEL.findall(labels or ""))
                series[(name, key)].append((float(ts), float(value)))
        for points in series.values():
            points.sort()
        return cls(dict(series))

    def select(self, name: str, **labels: str) -> list[list[tuple[float, float]]]:
        wanted = set(labels.items())
        return [points for (n, key), points in self.series.items() if n == name and wanted <= set(key)]

    def gauge(self, name: str, **labels: str) -> list[tuple[float, float]]:
        """Sum of the matching gauges at each scrape."""
        total: dict[float, float] = defaultdict(float)
        for points in self.select(name, **labels):
            for ts, value in points:
                total[ts] += value
        return sorted(total.items())

    def increase_per_minute(self, name: str, predicate=lambda labels: True) -> dict[int, float]:
        """Counter increase per minute [m*60, m*60+60), from the scrapes that end in it (a counter
        that went down restarted from zero)."""
        out: dict[int, float] = defaultdict(float)
        for (n, key), points in self.series.items():
            if n != name or not predicate(dict(key)):
                continue
            previous = 0.0
            for ts, value in points:
                minute = int(ts // 60) - (1 if ts % 60 == 0 else 0)
                out[minute] += value - previous if value >= previous else value
                previous = value
        return dict(out)

    def requests_per_minute(self, status_prefix: str = "") -> dict[int, float]:
        return self.increase_per_minute(
            "http_server_request_duration_seconds_count",
            lambda labels: labels["http_response_status_code"].startswith(status_prefix),
        )

    def mean_latency_per_minute(self) -> dict[int, float]:
        counts = self.requests_per_minute()
        sums = self.increase_per_minute("http_server_request_duration_seconds_sum")
        return {m: sums[m] / n for m, n in counts.items() if n > 0}

    def hourly_ratios(self) -> dict[int, float]:
        """Per complete hour: mean latency of minutes hh:00-hh:02 over the median of the other minutes."""
        by_hour: dict[int, dict[int, float]] = defaultdict(dict)
        for minute, value in self.mean_latency_per_minute().items():
            by_hour[minute // 60][minute % 60] = value
        ratios = {}
        for hour, minutes in by_hour.items():
            if len(minutes) < 58:
                continue
            top = statistics.fmean(minutes[m] for m in (0, 1, 2))
            rest = statistics.median(v for m, v in minutes.items() if m >= 3)
            ratios[hour] = top / rest
        return ratios

    def total_requests(self) -> float:
        return sum(self.requests_per_minute().values())

    def server_error_share(self, minutes: set[int] | None = None) -> float:
        total = self.requests_per_minute()
        errors = self.requests_per_minute("5")
        keep = minutes if minutes is not None else set(total)
        denominator = sum(v for m, v in total.items() if m in keep)
        return sum(v for m, v in errors.items() if m in keep) / denominator if denominator else 0.0


def read_logs(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]
