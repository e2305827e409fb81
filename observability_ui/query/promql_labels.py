"""The label-only functions of the PromQL engine: the labels ``absent`` gives its series, and
``label_replace``'s regex and ``$1`` template, both as Prometheus 3 (promql/functions.go) does them.

Regexes are RE2's, as the selectors' are (:mod:`.regex`), with Go's leftmost-first choice of
submatches.  Templates are expanded by Go's ``Regexp.Expand`` rules, which
differ from Python's ``\\1``: ``$1`` and ``${1}``, names as long as possible (``$1x`` is the group
named ``1x``, an empty string), ``$$`` for a dollar, and a ``$`` starting no name kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import promql_parser

from observability_ui.query import regex
from observability_ui.query.promql_model import METRIC_NAME, QueryError

Relabel = Callable[[dict[str, str]], dict[str, str]]

_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")  # \w is Go's letters, digits and underscore


def absent_labels(argument: promql_parser.Expr) -> dict[str, str]:
    """The labels of ``absent(...)``'s series: the equality matchers of a selector argument, except
    ``__name__``; a label matched twice, or otherwise than by equality, is left out (Prometheus's
    historic behaviour).  Any other argument, an aggregation say, gives no labels."""
    if isinstance(argument, promql_parser.MatrixSelector):
        argument = argument.vector_selector
    if not isinstance(argument, promql_parser.VectorSelector):
        return {}
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for matcher in argument.matchers.matchers:
        if matcher.name == METRIC_NAME:
            continue
        if matcher.op == promql_parser.MatchOp.Equal and matcher.name not in seen:
            labels[matcher.name] = matcher.value
            seen.add(matcher.name)
        else:
            labels.pop(matcher.name, None)
    return {name: value for name, value in labels.items() if value}  # an empty value is no label


def label_replacer(destination: str, replacement: str, source: str, source_regex: str) -> Relabel:
    """``label_replace``'s change to one label set: when ``source_regex`` matches the whole of the ``source``
    label's value (an absent label is ""), ``destination`` becomes ``replacement`` with the groups
    filled in (removed when that is empty); otherwise the labels are left as they are."""
    try:
        pattern = regex.matcher(source_regex, capture=True)
    except regex.RegexError as exc:
        raise QueryError(
            f"invalid regular expression in label_replace(): {source_regex} ({exc.reason})"
        ) from None
    check_label_name(destination, "label_replace", "destination ")

    def relabel(labels: dict[str, str]) -> dict[str, str]:
        match = pattern.fullmatch(labels.get(source, ""))
        if match is None:
            return labels
        changed = {name: value for name, value in labels.items() if name != destination}
        value = expand(replacement, match)
        return {**changed, destination: value} if value else changed

    return relabel


def label_joiner(destination: str, separator: str, sources: list[str]) -> Relabel:
    """``label_join``'s change to one label set: ``destination`` becomes the ``sources`` labels'
    values (an absent one is "") joined with ``separator``, and is removed when that is empty."""
    for source in sources:
        check_label_name(source, "label_join", "source ")
    check_label_name(destination, "label_join", "destination ")

    def relabel(labels: dict[str, str]) -> dict[str, str]:
        value = separator.join(labels.get(source, "") for source in sources)
        changed = {name: existing for name, existing in labels.items() if name != destination}
        return {**changed, destination: value} if value else changed

    return relabel


def check_label_name(name: str, function: str, role: str = "") -> str:
    """``name`` if Prometheus 3 accepts it as a label name (any non-empty UTF-8 text), else the
    error Prometheus gives."""
    if not name:
        raise QueryError(f"invalid {role}label name in {function}(): an empty name")
    return name


def expand(template: str, match: regex.Match) -> str:
    """``template`` with each ``$name`` or ``${name}`` replaced by that group of ``match`` (a number
    or a name; "" when there is no such group or it did not take part), as Go's Regexp.Expand."""

    def group(reference: re.Match[str]) -> str:
        name = reference[1] or reference[2]
        if name is None:
            return "$"
        key: int | str = int(name) if name.isdigit() and (name == "0" or name[0] != "0") else name
        try:
            return match.group(key) or ""
        except IndexError:  # no such group
            return ""

    return _REFERENCE.sub(group, template)
