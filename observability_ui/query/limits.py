"""Size limits on a candidate's query text, checked before any parser sees it.

The PromQL parser (``promql-parser``, Rust) recurses once per level of the expression tree: ten
thousand nested parentheses, or ten thousand ``1+1+...`` terms, overflow its stack and kill the whole
server process (a segfault, not an exception), and a few thousand levels already cost seconds of CPU,
quadratic in the depth.  The evaluator recurses per level too.  So the text is measured first: its
length, and an estimate of its nesting depth that errs high, both far above anything a person writes
(a dashboard's longest queries are a few hundred characters and a dozen levels deep).  LogQL's
hand-written parser loops over its tokens without recursing (its grammar nests nothing), so only
the length applies to it.
"""

from __future__ import annotations

import re

from observability_ui.query.promql_model import mask_strings

MAX_QUERY_LENGTH = 2000  # characters, PromQL and LogQL alike
MAX_NESTING_DEPTH = 64

_OPENING = "([{"
_CLOSING = ")]}"
# What can add a level to a PromQL tree: brackets, binary and unary operators (``and``/``or``/...
# included); ``!=`` and ``=~`` inside braces are label matchers, not operators (see nesting_depth).
_TOKEN = re.compile(r"[()\[\]{}]|==|!=|>=|<=|[-+*/%^<>]|\b(?:and|or|unless|atan2)\b")


class QueryTooLarge(ValueError):
    """A query over one of the limits; ``message`` names the limit and the query's own figure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_length(text: str) -> None:
    """Refuse a query longer than :data:`MAX_QUERY_LENGTH` characters."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryTooLarge(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_LENGTH}")


def nesting_depth(promql: str) -> int:
    """An upper bound of how deeply the PromQL parser and evaluator recurse on ``promql``.

    Every bracket and every operator counts as a level at the bracket level it appears in, and a
    position is as deep as the levels counted in the brackets enclosing it: ``a + b + (c)`` is 3
    (``+``, ``+``, the parenthesis) and its ``c`` sits under all three, as it does in the left-nested
    tree the parser builds.  Strings and comments are masked first, so ``{path="((("}`` is shallow.
    """
    masked, _ = mask_strings(promql)
    counts = [0]  # levels counted so far in each enclosing bracket, outermost first
    kinds = [""]  # the enclosing brackets
    deepest = depth = 0
    for token in _TOKEN.finditer(masked):
        text = token.group()
        if text in _CLOSING:
            if len(counts) > 1:
                depth -= counts.pop()
                kinds.pop()
            continue
        if kinds[-1] == "{" and text not in _OPENING:
            continue  # a label matcher's operator
        counts[-1] += 1
        depth += 1
        if text in _OPENING:
            counts.append(0)
            kinds.append(text)
        deepest = max(deepest, depth)
    return deepest


def check_promql(text: str) -> None:
    """Refuse a PromQL query over the length or the nesting limit, before it is parsed."""
    check_length(text)
    depth = nesting_depth(text)
    if depth > MAX_NESTING_DEPTH:
        raise QueryTooLarge(
            f"the query nests {depth} levels deep (each bracket and operator inside another counts);"
            f" the limit is {MAX_NESTING_DEPTH}"
        )
