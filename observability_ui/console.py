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
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from interview import scorecard as scorecards
from interview import timeline
from interview.investigation_figures import hint_releases, investigation_figures
from interview.scoring.evidence import MAX_DWELL_S
from interview.scoring.rubric import (
    DIMENSIONS,
    LEVEL_NAMES,
    RATINGS,
    RubricScore,
    checklist,
    suggested_level,
    suggestion_reason,
)
from interview.store import UNDO_HINT_S, InterviewSession
from observability_ui import protection
from observability_ui.candidate_session import DATASET_IDENTITY, find_served, served, store, the_day
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.scenario import Scenario, ScenarioError

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
#: how long the one-time value carrying a new candidate link survives the redirect after "New session"
NEW_LINK_MAX_AGE_S = 120
#: the session page's panels polled by ``static/console.js``, each rendered alone from its template
LIVE_PANELS = ("clock", "figures", "submissions", "timeline")
#: the most sessions one browser keeps revealed (the oldest reveal goes first): a cookie stays small
MAX_REVEALED = 20
#: the reveal cookie's word for every answer at once
ALL_REVEALED = "all"


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


@bp.errorhandler(HTTPException)
def _console_error(error: HTTPException) -> tuple[str, int]:
    """The console's own error page: its links lead back into the console (the candidate's error
    page would link to views the interviewer's cookie cannot open)."""
    session_id = (request.view_args or {}).get("session_id")
    back = (
        url_for("console.session", session_id=session_id) if session_id and store().get(session_id) else None
    )
    page = render_template("console/error.html", message=error.description, session_url=back)
    return page, error.code or 500


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "minutes": scorecards.minutes,
        "since_start": scorecards.since_start,
        "part_name": scorecards.part_name,
        "in_minutes": lambda seconds: f"{seconds / 60:g}",
        "decoy_dwell_cap_s": MAX_DWELL_S,
    }


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
    day = the_day()
    try:  # the day's own first: a scenario run from a file of its own is not in the library
        known = (
            day.scenarios[interview.scenario_id]
            if day is not None and interview.scenario_id in day.scenarios
            else scenarios.load(interview.scenario_id)
        )
    except ScenarioError:
        return SessionScenario(
            None,
            f"This server does not know the scenario {_named(interview.scenario_id)} (it is not in this"
            " checkout): its hints, ground truth, figures and rubric cannot be shown here; what was"
            " recorded, submitted and scored is below.",
        )
    name = known.title if _safe() else known.id  # an id may name the answer: not while safe to share
    preparation = day.under_way(known.id) if day is not None else None
    if preparation is not None:
        return SessionScenario(
            known,
            f"{name}'s dataset is being prepared ({preparation.progress:.0%} of its window simulated;"
            " the console's home page follows it): until it is ready its candidate sees a page saying"
            " their environment is being set up, which opens by itself.",
        )
    if day is not None and known.id in day.scenarios:
        why = f"{name}'s dataset is not ready: prepare it on the console's home page; until then"
    else:
        why = f"This server does not serve {name} (now: another server runs it, or its dataset is gone):"
    return SessionScenario(
        known,
        f"{why} its candidate can investigate only on a server running it. Hints, ground truth and"
        " rubric below are that scenario's.",
    )


def _named(scenario_id: str) -> str:
    """A scenario this checkout lacks, by its id unless the page is safe to share."""
    return "of this session" if _safe() else repr(scenario_id)


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


@bp.context_processor
def _share_mode() -> dict[str, Any]:
    return {
        "safe": _safe(),
        "scenario_ref": _scenario_ref,
        "revealed": _revealed,
        "all_revealed": ALL_REVEALED in _revealed_words(),
    }


def _safe() -> bool:
    """Whether this page hides what gives the answer away (safe to share a screen).

    A session's page reveals its own answer (its page, live panels, rubric and scorecards), not the
    others': an interviewer who revealed one candidate's answer to score it, then shares the screen
    with the next candidate, shows that candidate a safe page.  Pages of no session (home,
    comparison) and every session are revealed only by "Reveal every answer" (``ALL_REVEALED``).
    The answer is left out of the HTML, not just out of sight."""
    session_id = (request.view_args or {}).get("session_id")
    words = _revealed_words()
    return ALL_REVEALED not in words and (session_id is None or session_id not in words)


def _revealed(session_id: str) -> bool:
    """Whether this browser revealed ``session_id``'s answer (alone, or with every answer)."""
    words = _revealed_words()
    return ALL_REVEALED in words or session_id in words


def _revealed_words() -> list[str]:
    """The reveal cookie's words: the sessions revealed, most recent last, or ``ALL_REVEALED``."""
    words = request.cookies.get(protection.cookie_name("console_reveal"), "").split(".")
    return [word for word in words if word]


def _scenario_ref(scenario_id: str) -> str:
    """How a page names a scenario in its forms and links: its id, or in safe mode a stand-in (a
    scenario's id often names its answer)."""
    return scenario_id if not _safe() else _stand_in(scenario_id)


def _stand_in(scenario_id: str) -> str:
    """A scenario's safe-mode stand-in, keyed by the interviewer's secret (the same in both modes)."""
    key = request.cookies.get(protection.cookie_name("interviewer"), "").encode()
    return "s-" + hmac.new(key, scenario_id.encode(), hashlib.sha256).hexdigest()[:12]


def _scenario_id_of(value: str, known: Iterable[str]) -> str:
    """The scenario id a form or link named, by its id or by its stand-in, in either mode: a link
    copied while safe to share keeps working after the reveal and the other way round."""
    return next((s for s in known if value in (s, _stand_in(s))), value)


@bp.post("/reveal")
def reveal() -> Response:
    """Reveal (``reveal=yes``) or hide one session's answer in this browser (``session``), or, with
    no session, every answer (the home page's "Reveal every answer", and "Hide every answer").
    Back to the page it came from."""
    session_id = request.form.get("session", "")
    one = bool(session_id)
    if one and store().get(session_id) is None:  # a stale page's session: never every answer
        abort(404, description="No such interview session: nothing was revealed.")
    showing = request.form.get("reveal") == "yes"
    words = [w for w in _revealed_words() if w != session_id and w != ALL_REVEALED and store().get(w)]
    if not one:
        words = [ALL_REVEALED] if showing else []
    elif showing:
        words = [*words[-(MAX_REVEALED - 1) :], session_id]
    response = redirect(
        url_for("console.session", session_id=session_id) if one else url_for("console.sessions"), code=303
    )
    name = protection.cookie_name("console_reveal")
    if words:
        response.set_cookie(
            name,
            ".".join(words),
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path="/interviewer",
        )
    else:
        response.delete_cookie(name, path="/interviewer")
    return response


@bp.get("/login/<token>")
def login(token: str) -> Response:
    if not store().is_interviewer(token):
        return Response(render_template("console/denied.html"), 403)
    return protection.remember(
        redirect(url_for("console.sessions")), "interviewer", token, samesite="Strict", path="/interviewer"
    )


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
            {
                "session": s,
                "actions": sum(1 for e in store().events(s.id) if e.kind in timeline.CANDIDATE_KINDS),
                "submissions": len(store().submissions(s.id)),
            }
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


def _new_link_signer() -> URLSafeTimedSerializer:
    """Signs the new candidate link carried across the redirect after "New session", keyed by the
    interviewer's own secret (the cookie it travels beside), so no other page can plant one."""
    key = request.cookies.get(protection.cookie_name("interviewer"), "")
    return URLSafeTimedSerializer(key, salt="obsim-console-new-link")


@bp.get("/")
def sessions() -> Response:
    """The console's home; right after "New session", once, the candidate link it made."""
    return _once(Response(_home(created=_carried_link())))


def _carried_link() -> tuple[str, Scenario | None, str] | None:
    """The candidate link a POST just made (candidate, scenario, link), carried across its redirect;
    None when there is none, or it expired or is not ours (the link is not shown again)."""
    carried = request.cookies.get(protection.cookie_name("console_new_link"))
    if carried is None:
        return None
    try:
        candidate, scenario_id, link = _new_link_signer().loads(carried, max_age=NEW_LINK_MAX_AGE_S)
    except (BadSignature, ValueError):
        return None
    return candidate, _known_or_none(scenario_id), link  # even if its scenario stopped being served


def _once(response: Response) -> Response:
    """Drop the carried link: shown once, a reload no longer has it."""
    response.delete_cookie(protection.cookie_name("console_new_link"), path="/interviewer")
    return response


def _carry_link(response: Response, candidate: str, scenario_id: str, token: str) -> Response:
    """Carry a new candidate link across a redirect in a signed, short-lived cookie read once, never
    in a URL that would land in history or logs."""
    link = protection.public_url() + url_for("interview.join_page", token=token)
    response.set_cookie(
        protection.cookie_name("console_new_link"),
        _new_link_signer().dumps([candidate, scenario_id, link]),
        max_age=NEW_LINK_MAX_AGE_S,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/interviewer",
    )
    return response


@bp.post("/prepare")
def prepare() -> Response:
    """Start generating a scenario's dataset in the background: the server goes on answering, the
    home page shows the preparation, and the scenario is served once its dataset is ready."""
    day = the_day()
    chosen = _scenario_id_of(request.form.get("scenario", ""), day.scenarios if day is not None else ())
    if day is None or chosen not in day.scenarios:
        abort(404, description="This server prepares no such scenario.")
    day.prepare(chosen)
    return redirect(url_for("console.sessions"))


@bp.post("/sessions")
def create() -> Response:
    """Make a session and redirect (a reload makes no second one).  Its link crosses the redirect in
    a signed, short-lived cookie read once, never in a URL that would land in history or logs."""
    candidate = request.form.get("candidate", "").strip()  # its length: protection.FIELD_LIMITS
    if not candidate:
        abort(400, description="Give the candidate's name.")
    chosen = _scenario_id_of(request.form.get("scenario", ""), served())
    here = find_served(chosen) if chosen else next(iter(served().values()), None)
    if here is None:
        abort(400, description="This server does not serve that scenario (is its dataset ready?).")
    incident = here.scenario
    _, token = store().create_session(
        candidate, incident.id, incident.default_seed, incident.time_limit_minutes * 60.0
    )
    return _carry_link(redirect(url_for("console.sessions"), code=303), candidate, incident.id, token)


@bp.post("/sessions/<session_id>/new-link")
def new_link(session_id: str) -> Response:
    """A new candidate link for the session, revoking the old one (lost, or sent to the wrong
    address); shown once on the session page the redirect leads to, as "New session" shows its."""
    interview = _session(session_id)
    token = store().new_link(session_id)
    if token is None:
        abort(404, description="No such interview session.")
    back = redirect(url_for("console.session", session_id=session_id), code=303)
    return _carry_link(back, interview.candidate, interview.scenario_id, token)


def _session(session_id: str) -> Any:
    interview = store().get(session_id)
    if interview is None:
        abort(404, description="No such interview session.")
    return interview


def _page_context(session_id: str) -> dict[str, Any]:
    """What the session page and each of its live panels are rendered from."""
    interview = _session(session_id)
    own = _scenario_of(interview)
    incident = own.scenario
    events = store().events(session_id)
    released = hint_releases(incident, interview, events) if incident is not None else {}
    hints = incident.hints if incident is not None else ()
    return {
        "interview": interview,
        "own": own,
        "scenario": incident,
        "hints": [(index, hint, released.get(index)) for index, hint in enumerate(hints)],
        "next_hint": next((i for i in range(len(hints)) if i not in released), None),
        "undoable": store().undoable_hints(session_id),
        "undo_s": UNDO_HINT_S,
        "timeline": timeline.rows(incident, interview, events),
        "submissions": store().submissions(session_id),
        "distinct_submissions": _resubmissions(store().submissions(session_id)),
        "figures": investigation_figures(incident, interview, events) if incident is not None else None,
    }


def _resubmissions(submissions: list[Any]) -> list[tuple[Any, list[datetime]]]:
    """Each submission once, with when the same body was sent again right after it (a double click,
    or "submit" pressed again without a change): the interviewer reads one answer, told it was
    resubmitted, instead of the same one twice."""
    out: list[tuple[Any, list[datetime]]] = []
    for sub in submissions:
        if out and out[-1][0].body == sub.body:
            out[-1][1].append(sub.submitted_at)
        else:
            out.append((sub, []))
    return out


@bp.get("/sessions/<session_id>")
def session(session_id: str) -> Response:
    """The session page; right after "New link", once, the candidate link it made."""
    context = _page_context(session_id)
    page = render_template(
        "console/session.html",
        rubric=_rubric_view(session_id, context["scenario"]),
        created=_carried_link(),
        **context,
    )
    return _once(Response(page))


@bp.get("/sessions/<session_id>/live/<panel>")
def live(session_id: str, panel: str) -> str:
    """One panel of the session page alone, polled by ``console.js`` so the page stays current."""
    if panel not in LIVE_PANELS:
        abort(404)
    return render_template(f"console/_{panel}.html", **_page_context(session_id))


@bp.get("/sessions/<session_id>/hints/<int:index>")
def hint_text(session_id: str, index: int) -> Response:
    """One hint's text on demand, for the interviewer to read before releasing it in safe mode (the
    session's own scenario's hint; 409 when this checkout does not have that scenario)."""
    incident = _known_scenario(session_id)
    if not 0 <= index < len(incident.hints):
        abort(404)
    return Response(incident.hints[index].text, mimetype="text/plain")


def _rubric_view(session_id: str, incident: Scenario | None) -> dict[str, Any]:
    """The rubric form's contents: dimensions, the session's scenario's checklist by level, and what
    was scored before (without the scenario, only what was scored)."""
    stored = store().rubric(session_id)
    score = RubricScore.model_validate(stored.body) if stored is not None else None
    answers = score.checklist if score is not None else {}
    return {
        "dimensions": DIMENSIONS,
        "ratings": RATINGS,
        "level_names": LEVEL_NAMES,
        "checklist": list(enumerate(checklist(incident).items())) if incident is not None else None,
        "score": score,
        "scored_at": stored.scored_at if stored is not None else None,
        "suggested": suggested_level(incident, answers)
        if score is not None and incident is not None
        else None,
        "suggestion_reason": suggestion_reason(incident, answers)
        if score is not None and incident is not None
        else None,
    }


def _known_scenario(session_id: str) -> Scenario:
    """The session's own scenario; 409 when this checkout does not have it."""
    own = _scenario_of(_session(session_id))
    if own.scenario is None:
        abort(409, description=own.problem)
    return own.scenario


@bp.get("/sessions/<session_id>/scorecard.<fmt>")
def scorecard(session_id: str, fmt: str) -> Response:
    """The session's scorecard as printable HTML, Markdown or JSON (downloads, but for HTML), on the
    session's own scenario (without it when this checkout lacks it: the record and scores remain)."""
    interview = _session(session_id)
    own = _scenario_of(interview)
    if fmt not in scorecards.FORMATS:
        abort(404)
    if _safe():
        abort(
            403,
            description="A scorecard shows the answer: reveal it on the console first (not while sharing the screen).",
        )
    body = scorecards.render(scorecards.build(store(), own.scenario, session_id), fmt)
    response = Response(body, mimetype=scorecards.FORMATS[fmt])
    if fmt == "html":
        response.headers["Content-Security-Policy"] = SCORECARD_CSP.format(styles=_style_hashes(body))
    else:
        name = f"scorecard-{session_id}.{fmt}"  # no scenario id: a download folder may be on screen
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
    known = {s.scenario_id for s in store().sessions()} | set(served())
    chosen = _scenario_id_of(request.args.get("scenario") or next(iter(served()), ""), known)
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
        scenario_ids=[(scenario_id, _title(scenario_id)) for scenario_id in sorted(known)],
        groups=scorecards.comparison(store(), incident),
        dataset_label=lambda seen: scorecards.dataset_label(seen, name_scenario=not _safe()),
        candidates_compared=True,  # the page is never one to share: the banner says so
    )


def _known_or_none(scenario_id: str) -> Scenario | None:
    """A scenario by its id, served here or only in this checkout; None when this checkout lacks it."""
    here = find_served(scenario_id)
    if here is not None:
        return here.scenario
    try:
        return scenarios.load(scenario_id)
    except ScenarioError:
        return None


def _title(scenario_id: str) -> str:
    """A scenario's title, for a page safe to share (its id may name the answer)."""
    known = _known_or_none(scenario_id)
    return known.title if known is not None else "a scenario not in this checkout"


def _hint_index(session_id: str) -> int:
    """The form's hint ``index`` in the session's own scenario's ladder; 400 otherwise."""
    incident = _known_scenario(session_id)
    try:
        index = int(request.form.get("index", ""))
    except ValueError:
        abort(400, description="Which hint? (index missing)")
    if not 0 <= index < len(incident.hints):
        abort(400, description="No such hint.")
    return index


def _release_hint(session_id: str) -> None:
    store().release_hint(session_id, _hint_index(session_id))


def _undo_hint(session_id: str) -> None:
    """Take a release back while the candidate cannot have seen it: within ``UNDO_HINT_S`` and
    before any page shown to them carried it (409 saying why otherwise; the release stands)."""
    refusal = store().withdraw_hint(session_id, _hint_index(session_id))
    if refusal is not None:
        abort(409, description=refusal)


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
    anything: a bad form changes nothing.  While the page is safe to share its form has no
    checklist, so the answers saved before are kept, whatever the request says of them."""
    incident = _known_scenario(session_id)
    form = request.form
    try:
        rubric = RubricScore(
            ratings={name: int(form.get(f"rating.{name}", "")) for name in DIMENSIONS},
            checklist=_saved_checklist(session_id)
            if _safe()
            else {
                statement: form.get(f"check.{index}") == "yes"
                for index, statement in enumerate(checklist(incident))
            },
            level=form.get("level", ""),
            notes=form.get("notes", ""),
        )
    except ValueError as error:  # int() of a missing rating, or the model's own validation
        abort(400, description=f"The rubric was not saved: {_readable(error)}")
    store().score_rubric(session_id, rubric.model_dump(mode="json"))


def _saved_checklist(session_id: str) -> dict[str, bool]:
    """The checklist answers of the rubric saved last (none before the first save)."""
    saved = store().rubric(session_id)
    return dict(saved.body.get("checklist", {})) if saved is not None else {}


def _readable(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in error.errors())
    return "rate every dimension 0-3"


ACTIONS: dict[str, Callable[[str], None]] = {
    "start": lambda session_id: store().start(session_id),
    "pause": lambda session_id: store().pause(session_id),
    "end": lambda session_id: store().end(session_id),
    "reopen": lambda session_id: store().reopen(session_id),
    "extend": lambda session_id: store().extend(session_id, _minutes(EXTEND_MINUTES)),
    "grace": lambda session_id: store().set_grace(session_id, _minutes(GRACE_MINUTES)),
    "hint": _release_hint,
    "undo-hint": _undo_hint,
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
    # "#rubric-saved" tells console.js the typed rubric draft was stored and can be dropped
    anchor = "rubric-saved" if action == "rubric" else None
    return redirect(url_for("console.session", session_id=session_id, _anchor=anchor))
