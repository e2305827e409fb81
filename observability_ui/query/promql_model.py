"""Values shared by the PromQL engine's modules: the public error and result types, and the internal row.

The engine evaluates every node of an expression over the whole grid of evaluation timestamps at once, so
an instant vector is a list of :class:`Row`, each holding one value (or ``None``) per step; a scalar is a
plain float, or :class:`Steps` when it changes with the evaluation time (``time()``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from itertools import repeat

from observability_ui.query import budget

METRIC_NAME = "__name__"

LabelKey = tuple[tuple[str, str], ...]


class QueryError(Exception):
    """A query the engine cannot answer; ``position`` is a 0-based offset into the query when known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Series:
    """One result series: its labels and its ``(timestamp, value)`` points in ascending time."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Row:
    """An instant-vector element evaluated at every step; ``None`` where it has no value."""

    labels: dict[str, str]
    values: list[float | None]


@dataclass(frozen=True)
class Steps:
    """A scalar with one value per step, such as ``time()``: a constant stays a float, cheaper."""

    values: tuple[float, ...]


Vector = list[Row]
Scalar = float | Steps
Value = Vector | Scalar


def per_step(scalar: Scalar) -> Iterable[float]:
    """A scalar's value at each step (a constant one repeats without end: zip it with the steps)."""
    return repeat(scalar) if isinstance(scalar, float) else scalar.values


def label_key(labels: dict[str, str]) -> LabelKey:
    """A hashable, order-independent identity for a label set."""
    return tuple(sorted(labels.items()))


def format_labels(labels: dict[str, str]) -> str:
    """Labels as Prometheus and Grafana write them, ``{a="x", b="y"}``: sorted, values double-quoted
    and escaped (JSON's escapes are PromQL's), so a legend or an error message pastes into a query."""
    pairs = (f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in sorted(labels.items()))
    return "{" + ", ".join(pairs) + "}"


def without_name(labels: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name != METRIC_NAME}


def merge_rows(keyed_rows: Iterable[tuple[Hashable, Row]], collision: str) -> dict[Hashable, Row]:
    """Combine rows sharing a key into one, as Prometheus would see them at each step.

    Rows with the same key may legitimately take turns (a series that ends while another begins), but
    two values for one key at the same step are ambiguous, which Prometheus reports as an error.
    """
    merged: dict[Hashable, Row] = {}
    for key, row in budget.checked(keyed_rows):
        existing = merged.get(key)
        if existing is None:
            merged[key] = row
            continue
        values = list(existing.values)
        for step, value in enumerate(row.values):
            if value is None:
                continue
            if values[step] is not None:
                raise QueryError(f"{collision}: {format_labels(existing.labels)}")
            values[step] = value
        merged[key] = Row(existing.labels, values)
    return merged


def mask_strings(query: str) -> tuple[str, int | None]:
    """Blank out string literals and comments so searches for syntax only see code.

    Returns the masked query (same length, so offsets carry over) and the offset of an unterminated
    string's opening quote, if any.
    """
    masked = list(query)
    quote: str | None = None
    opened = 0
    index = 0
    while index < len(query):
        char = query[index]
        if quote is None:
            if char in "\"'`":
                quote, opened = char, index
            elif char == "#":
                end = query.find("\n", index)
                end = len(query) if end < 0 else end
                masked[index:end] = " " * (end - index)
                index = end
                continue
        elif char == quote:
            quote = None
        else:
            escaped = char == "\\" and quote != "`"
            width = 2 if escaped else 1
            masked[index : index + width] = " " * len(masked[index : index + width])
            index += width
            continue
        index += 1
    return "".join(masked), (opened if quote is not None else None)


def locate(query: str, pattern: str) -> int | None:
    """Offset of the first match of ``pattern`` outside string literals and comments."""
    match = re.search(pattern, mask_strings(query)[0])
    return match.start() if match else None
