"""Vector matching beyond one-to-one: the set operators ``and``, ``or``, ``unless`` and many-to-one
matching with ``group_left``/``group_right``, as Prometheus 3's VectorAnd/VectorOr/VectorUnless and
VectorBinop (promql/engine.go) do them at each evaluation step.

Elements match on their labels other than ``__name__``, or on the ``on(...)`` ones, or on all but the
``ignoring(...)`` ones.  Which element partners which can change from step to step (a series that ends
while another begins), so the matching is decided per step and rows are split by partner.
"""

from __future__ import annotations

from collections.abc import Callable

import promql_parser

from observability_ui.query.promql_model import (
    LabelKey,
    QueryError,
    Row,
    Vector,
    format_labels,
    label_key,
    merge_rows,
    without_name,
)

Operation = Callable[[float, float], float | None]


def restrict(labels: dict[str, str], matching: promql_parser.LabelModifier | None) -> dict[str, str]:
    """``on(...)`` keeps only the listed labels, ``ignoring(...)`` drops them."""
    if matching is None:
        return labels
    names = set(matching.labels)
    if matching.type == promql_parser.LabelModifierType.Include:
        return keep(labels, names)
    return drop(labels, names)


def keep(labels: dict[str, str], names: set[str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name in names}


def drop(labels: dict[str, str], names: set[str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name not in names}


def signature(labels: dict[str, str], matching: promql_parser.LabelModifier | None) -> LabelKey:
    """What two elements must share to match: their labels but ``__name__``, as on/ignoring say."""
    return label_key(restrict(without_name(labels), matching))


def set_operation(op: str, lhs: Vector, rhs: Vector, matching: promql_parser.LabelModifier | None) -> Vector:
    """``and`` keeps the left elements with a matching right one at that step, ``unless`` those
    without, ``or`` all left elements and the right ones no left element matches at that step.
    Labels, ``__name__`` included, are kept as they are."""
    steps = len((lhs or rhs)[0].values) if lhs or rhs else 0

    def present(rows: Vector) -> dict[LabelKey, list[bool]]:
        seen: dict[LabelKey, list[bool]] = {}
        for row in rows:
            flags = seen.setdefault(signature(row.labels, matching), [False] * steps)
            for step, value in enumerate(row.values):
                flags[step] = flags[step] or value is not None
        return seen

    def masked(row: Row, flags: list[bool] | None, wanted: bool) -> Row:
        flags = flags or [False] * steps
        return Row(
            row.labels, [v if flag == wanted else None for v, flag in zip(row.values, flags, strict=True)]
        )

    if op == "or":
        left = present(lhs)
        rows = [*lhs, *(masked(row, left.get(signature(row.labels, matching)), False) for row in rhs)]
        merged = merge_rows(
            ((label_key(row.labels), row) for row in rows),
            "vector cannot contain metrics with the same labelset",
        )
        return list(merged.values())
    right = present(rhs)
    return [masked(row, right.get(signature(row.labels, matching)), op == "and") for row in lhs]


def grouped_match(
    operation: Operation,
    lhs: Vector,
    rhs: Vector,
    modifier: promql_parser.BinModifier,
    drop_name: bool,
) -> Vector:
    """Many-to-one (``group_left``) or one-to-many (``group_right``) matching: each element of the
    "many" side meets the one element of the other side with its signature at that step, keeps its
    own labels (without ``__name__`` when the operator drops it) and takes the ``group_x(...)`` labels
    from its partner (removing them when the partner has none).

    Two elements of the "one" side sharing a signature at a step, or two results with the same labels,
    are errors, as in Prometheus.
    """
    group_left = modifier.card == promql_parser.VectorMatchCardinality.ManyToOne
    many, one = (lhs, rhs) if group_left else (rhs, lhs)
    include = list(modifier.group_labels or [])
    partners = _unique_partners(one, modifier.matching, "right" if group_left else "left")
    results: list[tuple[LabelKey, Row]] = []
    for row in many:
        candidates = partners.get(signature(row.labels, modifier.matching), {})
        base = without_name(row.labels) if drop_name else row.labels
        for partner, steps in candidates.values():
            labels = {
                **drop(base, set(include)),
                **{n: v for n in include if (v := partner.labels.get(n, ""))},
            }
            values: list[float | None] = [None] * len(row.values)
            for step in steps:
                mine, theirs = row.values[step], partner.values[step]
                if mine is None or theirs is None:
                    continue
                values[step] = operation(mine, theirs) if group_left else operation(theirs, mine)
            results.append((label_key(labels), Row(labels, values)))
    collision = "multiple matches for labels: grouping labels must ensure unique matches"
    return [row for row in merge_rows(results, collision).values() if any(v is not None for v in row.values)]


def _unique_partners(
    rows: Vector, matching: promql_parser.LabelModifier | None, side: str
) -> dict[LabelKey, dict[int, tuple[Row, list[int]]]]:
    """The "one" side by signature: for each, which row holds it at which steps; two rows holding one
    signature at the same step is Prometheus's many-to-many error."""
    holders: dict[LabelKey, dict[int, tuple[Row, list[int]]]] = {}
    owner: dict[tuple[LabelKey, int], Row] = {}
    for index, row in enumerate(rows):
        key = signature(row.labels, matching)
        for step, value in enumerate(row.values):
            if value is None:
                continue
            other = owner.setdefault((key, step), row)
            if other is not row:
                first, second = sorted((format_labels(other.labels), format_labels(row.labels)))
                raise QueryError(
                    f"found duplicate series for the match group {format_labels(dict(key))} on the {side} "
                    f"hand-side of the operation: [{first}, {second}];many-to-many matching not allowed: "
                    "matching labels must be unique on one side"
                )
            holders.setdefault(key, {}).setdefault(index, (row, []))[1].append(step)
    return holders
