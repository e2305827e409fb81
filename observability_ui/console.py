"""The interviewer's console: sessions, the clock, the hint ladder, the candidate's live timeline,
the ground truth, submissions with their automatic score.

Reached only with the interviewer's token: ``/interviewer/login/<token>`` (the URL printed at
launch) checks it against its stored digest in constant time and keeps it in an HttpOnly,
SameSite=Strict cookie; a form posted from another site (another port of this host included) is
refused by :mod:`protection`.  Candidates, whose cookie is a different secret, get a 403 on every
page here.  Every answer here is ``Cache-Control: no-store`` (pages show the ground truth) under a
Content-Security-Policy that runs only the console's own script and style files.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from pydantic import ValidationError

from observability_ui import protection
from observability_ui.interview import DATASET_IDENTITY, find_served, served, store, the_day
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.interview import scorecard as scorecards
from obsim.interview.figures import investigation_figures
from obsim.interview.store import InterviewSession
from obsim.interview.timeline import describe
from obsim.scenario import Scenario, ScenarioError
from obsim.scoring.rubric import DIMENSIONS, RATINGS, RubricScore, checklist, suggested_level

bp = Blueprint("console", __name__, url_prefix="/interviewer")

#: the console's pages load only their own files (``static/``, the plotly bundle of error pages)
#: and post only to themselves
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the standalone printable scorecard: its one inline stylesheet, allowed by hash
SCORECARD_CSP = (
    "default-src 'none'; style-src {styles}; img-src data:; frame-ancestors 'none'; base-uri 'none'"
)
#: how many minutes the interviewer may give at once (extend) or allow after the limit (grace)
EXTEND_MINUTES = range(1, 61)
GRACE_MINUTES = range(31)


@bp.before_request
def _require_interviewer() -> Response | None:
    if store() is None:
        abort(404)
    if request.endpoint == "console.login":
        return None
    if not store().is_interviewer(request.cookies.get(protection.cookie_name("interviewer"), "")):
        return Response(render_template("console/denied.html"), 403)
    g.interviewer = True
    return None


@bp.after_request
def _private(response: Response) -> Response:
    """Nothing here may be kept by a browser or proxy cache, and pages run only the console's files."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"minutes": scorecards.minutes, "in_minutes": lambda seconds: f"{seconds / 60:g}"}


@dataclass(frozen=True)
class SessionScenario:
    """The scenario a session was created on, as this server knows it.

    Every console view of a session uses its own scenario, never the server's: one interviews
    database may hold sessions of scenarios this server does not run (another server's, or one whose
    dataset is not ready here).  Such a session is still shown from the scenario's definition in
    this checkout (its candidate cannot investigate here), or, when this checkout has no such
    scenario, with only what was recorded (``scenario`` None).  ``problem`` says which, and says so
    when the candidate saw another dataset than the one served now.
    """

    scenario: Scenario | None
    problem: str | None


def _scenario_of(interview: InterviewSession) -> SessionScenario:
    here = find_served(interview.scenario_id)
    if here is not None:
        return SessionScenario(here.scenario, _dataset_changed(interview, here.dataset))
    try:
        known = scenarios.load(interview.scenario_id)
    except ScenarioError:
        return SessionScenario(
            None,
            f"This server does not know the scenario {interview.scenario_id!r} (it is not in this"
            " checkout): its hints, ground truth, figures and rubric cannot be shown here; what was"
            " recorded, submitted and scored is below.",
        )
    day = the_day()
    if day is not None and known.id in day.scenarios:
        why = f"{known.id}'s dataset is not ready: prepare it on the console's home page; until then"
    else:
        why = f"This server does not serve {known.id} (now: another server runs it, or its dataset is gone):"
    return SessionScenario(
        known,
        f"{why} its candidate can investigate only on a server running it. Hints, ground truth and"
        " rubric below are that scenario's.",
    )


def _dataset_changed(interview: InterviewSession, directory: Path) -> str | None:
    """Say so when the candidate joined on another dataset than the one served now (the cache was
    pruned, or the simulator's code changed): their record stands, but the data differs."""
    joined = next((e for e in store().events(interview.id) if e.kind == "join"), None)
    if joined is None:
        return None
    seen = joined.detail.get("dataset") or {}
    with Dataset.open(directory) as dataset:
        now = {key: dataset.manifest.get(key) for key in DATASET_IDENTITY}
    if seen.get("cache_key") == now.get("cache_key"):
        return None
    return (
        f"The candidate investigated another dataset (code {seen.get('code_hash')}) than this server"
        f" serves now (code {now.get('code_hash')}): their record stands, the data they saw differs."
    )


@bp.get("/login/<token>")
def login(token: str) -> Response:
    if not store().is_interviewer(token):
        return Response(render_template("console/denied.html"), 403)
    response = redirect(url_for("console.sessions"))
    response.set_cookie(
        protection.cookie_name("interviewer"),
        token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/interviewer",
    )
    return response


def _groups() -> list[dict[str, Any]]:
    """Every session, grouped by its scenario: those this server serves first, in their order."""
    groups: dict[str, dict[str, Any]] = {
        scenario_id: {"id": scenario_id, "scenario": here.scenario, "served": True, "rows": []}
        for scenario_id, here in served().items()
    }
    for s in store().sessions():
        if s.scenario_id not in groups:
            known = _scenario_of(s)
            groups[s.scenario_id] = {
                "id": s.scenario_id,
                "scenario": known.scenario,
                "served": False,
                "rows": [],
            }
        groups[s.scenario_id]["rows"].append(
            {"session": s, "events": len(store().events(s.id)), "submissions": len(store().submissions(s.id))}
        )
    return list(groups.values())


def _home(created: tuple[str, Scenario, str] | None = None) -> str:
    """The console's home: on an interview day the day's scenarios (ready, being prepared or not),
    and every session grouped by scenario."""
    day = the_day()
    return render_template(
        "console/sessions.html",
        groups=_groups(),
        served=served(),
        day=day,
        preparing=day is not None and any(p.finished is None for p in day.preparations.values()),
        created=created,
    )


@bp.get("/")
def sessions() -> str:
    return _home()


@bp.post("/prepare")
def prepare() -> Response:
    """Start generating a scenario's dataset in the background: the server goes on answering, the
    home page shows the preparation, and the scenario is served once its dataset is ready."""
    day = the_day()
    if day is None or request.form.get("scenario") not in day.scenarios:
        abort(404, description="This server prepares no such scenario.")
    day.prepare(request.form["scenario"])
    return redirect(url_for("console.sessions"))


@bp.post("/sessions")
def create() -> str:
    candidate = request.form.get("candidate", "").strip()  # its length: protection.FIELD_LIMITS
    if not candidate:
        abort(400, description="Give the candidate's name.")
    chosen = request.form.get("scenario", "")
    here = find_served(chosen) if chosen else next(iter(served().values()), None)
    if here is None:
        abort(400, description="This server does not serve that scenario (is its dataset ready?).")
    incident = here.scenario
    _, token = store().create_session(
        candidate, incident.id, incident.default_seed, incident.time_limit_minutes * 60.0
    )
    link = protection.public_url() + url_for("interview.join_page", token=token)
    return _home(created=(candidate, incident, link))


def _session(session_id: str) -> Any:
    interview = store().get(session_id)
    if interview is None:
        abort(404, description="No such interview session.")
    return interview


@bp.get("/sessions/<session_id>")
def session(session_id: str) -> str:
    interview = _session(session_id)
    own = _scenario_of(interview)
    incident = own.scenario
    events = store().events(session_id)
    released = set(store().released_hints(session_id))
    return render_template(
        "console/session.html",
        interview=interview,
        own=own,
        scenario=incident,
        hints=[(index, hint, index in released) for index, hint in enumerate(incident.hints)]
        if incident is not None
        else [],
        events=events,
        describe_event=_describer(incident),
        submissions=store().submissions(session_id),
        rubric=_rubric_view(session_id, incident),
        figures=investigation_figures(incident, interview, events) if incident is not None else None,
    )


def _describer(incident: Scenario | None) -> Callable[[Any], str]:
    """How the timeline describes an event: a released hint by its text in the session's scenario."""
    hints = incident.hints if incident is not None else ()
    return lambda event: describe(event, hints)


def _rubric_view(session_id: str, incident: Scenario | None) -> dict[str, Any]:
    """The rubric form's contents: dimensions, the session's scenario's checklist by level, and what
    was scored before (without the scenario, only what was scored)."""
    stored = store().rubric(session_id)
    score = RubricScore.model_validate(stored.body) if stored is not None else None
    answers = score.checklist if score is not None else {}
    return {
        "dimensions": DIMENSIONS,
        "ratings": RATINGS,
        "checklist": list(enumerate(checklist(incident).items())) if incident is not None else None,
        "score": score,
        "scored_at": stored.scored_at if stored is not None else None,
        "suggested": suggested_level(incident, answers)
        if score is not None and incident is not None
        else None,
    }


def _known_scenario(session_id: str) -> Scenario:
    """The session's own scenario; 409 when this checkout does not have it."""
    own = _scenario_of(_session(session_id))
    if own.scenario is None:
        abort(409, description=own.problem)
    return own.scenario


@bp.get("/sessions/<session_id>/timeline")
def timeline(session_id: str) -> str:
    """The timeline panel alone, polled by the session page so it stays live."""
    own = _scenario_of(_session(session_id))
    return render_template(
        "console/_timeline.html", events=store().events(session_id), describe_event=_describer(own.scenario)
    )


@bp.get("/sessions/<session_id>/scorecard.<fmt>")
def scorecard(session_id: str, fmt: str) -> Response:
    """The session's scorecard as printable HTML, Markdown or JSON (downloads, but for HTML), on the
    session's own scenario (without it when this checkout lacks it: the record and scores remain)."""
    interview = _session(session_id)
    own = _scenario_of(interview)
    if fmt not in scorecards.FORMATS:
        abort(404)
    body = scorecards.render(scorecards.build(store(), own.scenario, session_id), fmt)
    response = Response(body, mimetype=scorecards.FORMATS[fmt])
    if fmt == "html":
        response.headers["Content-Security-Policy"] = SCORECARD_CSP.format(styles=_style_hashes(body))
    else:
        name = f"scorecard-{interview.scenario_id}-{session_id}.{fmt}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _style_hashes(page: str) -> str:
    """CSP sources allowing exactly the inline ``<style>`` blocks of ``page`` (by SHA-256)."""
    blocks = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() for block in blocks)
    return " ".join(f"'sha256-{digest}'" for digest in digests) or "'none'"


@bp.get("/compare")
def compare() -> str:
    """The candidates of one scenario (``?scenario=``, default the first served) side by side: both
    scores and how they investigated, in one table per dataset they saw, so that only candidates who
    investigated the same data are compared."""
    chosen = request.args.get("scenario") or next(iter(served()), "")
    known = {s.scenario_id for s in store().sessions()} | set(served())
    if chosen not in known:
        abort(404, description="No sessions of that scenario.")
    try:
        incident = served()[chosen].scenario if chosen in served() else scenarios.load(chosen)
    except ScenarioError:
        abort(
            409,
            description=f"This server does not know the scenario {chosen!r}: it cannot compare its candidates.",
        )
    return render_template(
        "console/compare.html",
        scenario=incident,
        scenario_ids=sorted(known),
        groups=scorecards.comparison(store(), incident),
        dataset_label=scorecards.dataset_label,
    )


def _release_hint(session_id: str) -> None:
    incident = _known_scenario(session_id)
    try:
        index = int(request.form.get("index", ""))
    except ValueError:
        abort(400, description="Which hint? (index missing)")
    if not 0 <= index < len(incident.hints):
        abort(400, description="No such hint.")
    store().release_hint(session_id, index)


def _minutes(allowed: range) -> float:
    """The form's ``minutes`` in seconds; 400 unless a whole number in ``allowed``."""
    try:
        minutes = int(request.form.get("minutes", ""))
    except ValueError:
        minutes = -1
    if minutes not in allowed:
        abort(400, description=f"Give whole minutes from {allowed.start} to {allowed.stop - 1}.")
    return minutes * 60.0


def _score_rubric(session_id: str) -> None:
    """Validate the whole rubric form, against the session's own scenario's checklist, before storing
    anything: a bad form changes nothing."""
    incident = _known_scenario(session_id)
    form = request.form
    try:
        rubric = RubricScore(
            ratings={name: int(form.get(f"rating.{name}", "")) for name in DIMENSIONS},
            checklist={
                statement: form.get(f"check.{index}") == "yes"
                for index, statement in enumerate(checklist(incident))
            },
            level=form.get("level", ""),
            notes=form.get("notes", ""),
        )
    except ValueError as error:  # int() of a missing rating, or the model's own validation
        abort(400, description=f"The rubric was not saved: {_readable(error)}")
    store().score_rubric(session_id, rubric.model_dump(mode="json"))


def _readable(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in error.errors())
    return "rate every dimension 0-3"


ACTIONS: dict[str, Callable[[str], None]] = {
    "start": lambda session_id: store().start(session_id),
    "pause": lambda session_id: store().pause(session_id),
    "extend": lambda session_id: store().extend(session_id, _minutes(EXTEND_MINUTES)),
    "grace": lambda session_id: store().set_grace(session_id, _minutes(GRACE_MINUTES)),
    "hint": _release_hint,
    "rubric": _score_rubric,
}


@bp.post("/sessions/<session_id>/<action>")
def act(session_id: str, action: str) -> Response:
    _session(session_id)
    if action == "delete":
        store().delete(session_id)
        return redirect(url_for("console.sessions"))
    if action not in ACTIONS:
        abort(404)
    ACTIONS[action](session_id)
    return redirect(url_for("console.session", session_id=session_id))
