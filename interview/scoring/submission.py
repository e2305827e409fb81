"""What a candidate submits at the end of an interview, as a schema-checked JSON document.

Every field is optional (the empty submission ``{}`` is valid and scores next to nothing), but
what is given must be well formed: a location names a file of the service's code and a line
range, times are UTC.  The diagnosis itself (root cause, mechanism, chain, fix) is free text in
the candidate's words: nothing here offers a list of answers to pick from.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from obsim.scenario import View


class SubmissionError(Exception):
    """A submission file that cannot be read or does not follow the schema; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Strict):
    """A place in the code: a file of the service (as the code browser names it) and lines."""

    file: str = Field(min_length=1)
    lines: tuple[int, int] | None = None

    @field_validator("lines")
    @classmethod
    def _range(cls, lines: tuple[int, int] | None) -> tuple[int, int] | None:
        if lines is not None and (lines[0] < 1 or lines[1] < lines[0]):
            raise ValueError("lines must be [first, last] with 1 <= first <= last")
        return lines


class EvidenceItem(_Strict):
    """Something the candidate saw: the view, the query, and in an interview the link to the
    recorded page that showed it (path and query string, as the candidate opened it)."""

    view: View
    query: str = ""
    link: str = ""
    note: str = ""


class Submission(_Strict):
    root_cause: str = ""
    locations: tuple[Location, ...] = ()
    mechanism: str = Field(default="", description="how the failure works, in the candidate's words")
    starts_at: datetime | None = None
    repeats: Literal["none", "minutes", "hourly", "daily"] | None = None
    causal_chain: tuple[str, ...] = ()
    evidence: tuple[EvidenceItem, ...] = ()
    mitigation: str = ""
    fix: str = ""
    prevention: str = ""
    confidence: float | None = Field(default=None, ge=0, le=1)

    @field_validator("mechanism", mode="before")
    @classmethod
    def _stored_choice(cls, mechanism: object) -> object:
        """Submissions stored before the mechanism was free text hold a taxonomy id picked from a
        list, or null when none was picked: the id reads as the words it is, null as nothing."""
        return "" if mechanism is None else mechanism

    @field_validator("starts_at")
    @classmethod
    def _utc(cls, moment: datetime | None) -> datetime | None:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("give the time in UTC with its offset, e.g. 2026-03-10T14:20:00Z")
        return moment


def load_submission(path: Path) -> Submission:
    """Read and validate a submission file, or raise :class:`SubmissionError` naming the problem."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SubmissionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmissionError(f"{path}: not a readable JSON document: {error}") from None
    if not isinstance(raw, dict):
        raise SubmissionError(f"{path}: a submission is a JSON object, not {type(raw).__name__}")
    try:
        return Submission.model_validate(raw)
    except ValidationError as error:
        problems = "\n".join(
            f"  {'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise SubmissionError(f"{path}: not a valid submission:\n{problems}") from None
