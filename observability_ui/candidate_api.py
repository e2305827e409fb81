"""The candidate's own JSON API in an interview: the session's clock and released hints, the pages
that can be cited as evidence, scratch notes and the submission, for a candidate who works with
``curl`` or a script rather than the forms (listed in ``/api/openapi.json`` on an interview server).

Nothing here has a rule of its own: a JSON submission is handed to the form's own path
(:func:`candidate_session.accept_submission`) as the form's fields, so both are validated, scored and
stored alike; each field is held to the form's size limits (:mod:`protection`); a refused body
answers a 400 naming each field at fault.  Every call passes the same gate as the pages (the
candidate's link, the interviewer's clock) before it gets here.
"""

from __future__ import annotations

from typing import Any, get_args

from flask import Blueprint, Response, current_app, g, request
from werkzeug.datastructures import MultiDict

from interview.store import SubmissionRecord, as_utc
from interview.timeline import describe
from observability_ui import candidate_session, protection
from observability_ui.request_context import UiError
from obsim.scenario import View

bp = Blueprint("candidate_api", __name__)

#: submission fields given as a list of lines, or as one text of lines as the form's textarea
LINE_FIELDS = ("locations", "causal_chain")


@bp.get("/api/interview")
def status() -> dict[str, Any]:
    """Where the candidate's clock stands and the hints released to them, as the pages show them."""
    context = candidate_session.interview_context()
    session = context["interview"]
    return {
        "candidate": session.candidate,
        "clock": session.clock().value,
        "limit_s": session.limit_s(),
        "remaining_s": context["remaining_s"],
        "grace_left_s": context["grace_left_s"],
        "hints": context["released_hints"],
    }


@bp.get("/api/evidence")
def evidence() -> dict[str, Any]:
    """What a submission can cite: the recorded pages and calls (``evidence_events``) and the views."""
    return {
        "events": [
            {"id": event.id, "description": describe(event), "link": candidate_session.link_of(event)}
            for event in candidate_session.evidence_choices(g.interview.id)
        ],
        "views": list(get_args(View)),
    }


@bp.get("/api/notes")
def notes() -> dict[str, str]:
    return {"text": candidate_session.latest_notes(g.interview.id)}


@bp.put("/api/notes")
def save_notes() -> Response:
    """Replace the scratch notes (each saved version is kept for the interviewer, as from the page)."""
    fields = _fields(_body(), {"text": (str,)})
    protection.limit_fields(fields)
    candidate_session.store().record(g.interview.id, "notes", {"text": fields.get("text", "")})
    return Response(status=204)


@bp.get("/api/submissions")
def submissions() -> dict[str, Any]:
    """Every version this candidate submitted, oldest first, as stored (the score is not theirs to see)."""
    stored = candidate_session.store().submissions(g.interview.id)
    return {"submissions": [_described(record) | {"submission": record.body} for record in stored]}


@bp.post("/api/submissions")
def submit() -> tuple[dict[str, Any], int]:
    """The submission form's fields as a JSON object, stored as the form stores them."""
    types: dict[str, tuple[type, ...]] = {name: (str,) for name in candidate_session.SUBMISSION_TEXT_FIELDS}
    types |= {name: (str, list) for name in LINE_FIELDS}
    types["confidence"] = (str, int, float)
    types |= {name: (list,) for name in candidate_session.SUBMISSION_LIST_FIELDS}
    fields = _fields(_body(), types)
    protection.limit_fields(fields)
    try:
        record = candidate_session.accept_submission(fields)
    except candidate_session.SubmissionRefused as refused:
        return _field_errors({field: "; ".join(texts) for field, texts in refused.problems.items()}), 400
    return _described(record), 201


def _described(record: SubmissionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "submitted_at": as_utc(record.submitted_at).isoformat().replace("+00:00", "Z"),
        "status": "late" if record.late else "on time",
    }


def _body() -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what to send."""
    if not request.is_json:
        raise UiError("send a JSON object with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UiError("the body must be a JSON object (see /api/openapi.json)")
    return body


def _fields(body: dict[str, Any], types: dict[str, tuple[type, ...]]) -> MultiDict[str, str]:
    """``body`` as the form's fields (a list of lines as the text of a textarea, a list as checked
    boxes); an unknown field or a value of the wrong type is a 400 naming it."""
    unknown = [name for name in body if name not in types]
    if unknown:
        raise _FieldsRefused(
            {name: f"{name}: not a field; the fields are {', '.join(types)}" for name in unknown}
        )
    fields: MultiDict[str, str] = MultiDict()
    problems: dict[str, str] = {}
    for name, value in body.items():
        items = value if isinstance(value, list) else [value]
        if (
            isinstance(value, bool)
            or not isinstance(value, types[name])
            or not all(_scalar(i) for i in items)
        ):
            problems[name] = f"{name}: {_expected(types[name])}"
        elif name in LINE_FIELDS and isinstance(value, list):
            fields.add(name, "\n".join(str(item) for item in items))
        else:
            for item in items:
                fields.add(name, str(item))
    if problems:
        raise _FieldsRefused(problems)
    return fields


def _scalar(item: object) -> bool:
    return isinstance(item, (str, int, float)) and not isinstance(item, bool)


def _expected(types: tuple[type, ...]) -> str:
    if types == (str,):
        return "must be a string"
    if list in types and str in types:
        return "must be a string of lines or a list of strings"
    if list in types:
        return "must be a list"
    return "must be a string or a number"


class _FieldsRefused(UiError):
    """A body refused field by field: its answer names each one (see :func:`_field_errors`)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@bp.errorhandler(_FieldsRefused)
def _refused(error: _FieldsRefused) -> tuple[Response, int]:
    return current_app.json.response(_field_errors(error.problems)), 400


def _field_errors(problems: dict[str, str]) -> dict[str, Any]:
    """A refused body's answer: every problem in ``error``, and each field's in ``fields``."""
    return {"error": "; ".join(problems.values()), "fields": problems}
