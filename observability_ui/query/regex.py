"""Every regex a candidate types runs here, on RE2 (``google-re2``), as Prometheus and Loki run theirs.

Python's ``re`` backtracks: ``|~ "^(.*)(.*)(.*)(.*)X"`` took a minute over a hundred log lines and held
the server meanwhile.  RE2 matches in time linear in the text, so a pattern can be slow only in
proportion to what it reads, which the request's time budget then bounds.  Its syntax is Go's, the one
candidates know from Prometheus and Loki: no backreferences or lookaround, which are refused as
invalid with RE2's own reason.

Two uses, two semantics, both Prometheus's and Loki's:

- matchers (PromQL label matchers, LogQL stream matchers and field filters, ``label_replace``) match
  the whole value, with ``.`` matching a newline too (Prometheus compiles ``^(?s:pattern)$``);
- LogQL line filters (``|~``, ``!~``) search anywhere in the line, with Go's default flags.
"""

from __future__ import annotations

from functools import lru_cache

import re2

# What re2.compile and a match return: the module exports no public name for either.
Pattern = re2._Regexp
Match = re2._Match


class RegexError(ValueError):
    """A pattern RE2 refuses; ``reason`` is RE2's own (``missing ): (``, ``invalid perl operator``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _options(dot_nl: bool, capture: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on the server's stderr
    options.dot_nl = dot_nl
    options.never_capture = not capture  # a yes/no answer needs no groups, which RE2 then skips
    return options


@lru_cache(maxsize=512)
def _compile(pattern: str, dot_nl: bool, capture: bool) -> Pattern:
    """Compiled once per distinct pattern: SQLite calls the LogQL regex functions once per row."""
    try:
        return re2.compile(pattern, _options(dot_nl, capture))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        raise RegexError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def matcher(pattern: str, capture: bool = False) -> Pattern:
    """A label or field matcher's pattern: use ``fullmatch``; ``capture`` keeps the groups
    (``label_replace``'s ``$1``)."""
    return _compile(pattern, True, capture)


def line_filter(pattern: str) -> Pattern:
    """A line filter's pattern: use ``search``."""
    return _compile(pattern, False, False)
