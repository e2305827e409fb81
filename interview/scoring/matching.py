"""Recognising ground-truth statements in a candidate's free text by their key terms.

Deliberately simple and explainable: a statement is recognised when the text contains at least one
term of each of its term groups, case-insensitively.  The interviewer's rubric judges the prose;
this part only needs to be fair, deterministic and easy to audit in the score's ``why``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from obsim.scenario import Terms

_NEGATION = re.compile(r"\b(not|isn't|wasn't|aren't|no longer|rather than|ruled out|unrelated|instead of)\b")
_SENTENCE = re.compile(r"(?<=[.;!?\n])\s+")


def normalise(texts: Iterable[str]) -> str:
    return " ".join(text.lower() for text in texts if text)


def matches(text: str, terms: Terms) -> bool:
    """Whether ``text`` (already normalised) holds a term of every group."""
    return bool(terms) and all(any(term.lower() in text for term in group) for group in terms)


def blames(text: str, terms: Terms) -> bool:
    """Whether ``text`` (already normalised) names a decoy or red flag: like ``matches``, but each
    term must start a word, so an identifier that merely contains it ("generate_usage_reports" for
    the term "report") does not charge the candidate with blaming something they never named."""
    return bool(terms) and all(any(_word_start(term).search(text) for term in group) for group in terms)


def _word_start(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9_])" + re.escape(term.lower()))


def affirmed(text: str) -> str:
    """The sentences of ``text`` that do not negate what they mention ("not the payment gateway")."""
    return " ".join(sentence for sentence in _SENTENCE.split(text) if not _NEGATION.search(sentence))
