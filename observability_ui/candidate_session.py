"""The candidate's side of an interview: the personal link, the recorded investigation, the hints
the interviewer released, the clock and the submission.

Only active when the app is given an :class:`InterviewStore` (``obsim run`` and ``obsim serve
SCENARIO``); over a bare dataset the platform stays open, as for a self-guided look.  The link
``/join/<token>`` shows a start page whose button (a same-origin POST, so no other site can log a
browser into a session of its choosing) puts the token in an HttpOnly, SameSite cookie; every later
request carries it and is recorded (view or API call, its query, range and result size) against
that session alone.

The interviewer's clock decides what the candidate may do: before the start and while paused every
page answers a waiting page that reloads itself; past the time limit and its grace, investigation,
notes and submissions are closed until the interviewer extends the time.  Every refusal says why
(:class:`Refused`): a page in words, an API call in JSON with a stable ``reason`` a script can act
on.  Refused requests are not recorded, so nothing before the start counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from interview.scoring import Submission, score
from interview.scoring.evidence import evidence_seen, view_of
from interview.store import (
    CLOCK_REFUSALS,
    Clock,
    Event,
    InterviewClosed,
    InterviewSession,
    InterviewStore,
    Refusal,
    SubmissionRecord,
)
from interview.timeline import describe, is_request
from observability_ui import protection
from observability_ui.day import Day
from observability_ui.request_context import dataset
from observability_ui.views import loki_api, prometheus_api
from observability_ui.views.page import render
from obsim.dataset.schema import MANIFEST_NAME
from obsim.scenario import Scenario, View

bp = Blueprint("interview", __name__)

STORE = "obsim_interviews"
SERVED = "obsim_served_scenarios"
DAY = "obsim_interview_day"
#: what identifies the data a candidate saw, copied from the dataset's manifest onto the timeline
DATASET_IDENTITY = ("scenario", "scenario_version", "seed", "code_hash", "patch_sha256", "cache_key")
MAX_EVIDENCE_CHOICES = 40
#: how much of a refused request's message the timeline keeps (a query error can quote the query)
ERROR_CHARS = 300
OPEN_ENDPOINTS = {"interview.join_page", "interview.join", "interview.clock_state", "static", "assets.plotly"}
#: how often a waiting, paused or closed page reloads itself, to open as soon as the clock allows
#: (and the ``Retry-After`` of an answer refused while the session's environment is set up)
GATE_REFRESH_S = 10
#: the server answers the session's data only later, not by the candidate's doing: 503
UNAVAILABLE = frozenset({Refusal.NOT_SERVED, Refusal.PREPARING})
#: what a candidate is told while their session's dataset is generated: words of an environment
#: being set up, nothing of how it is made
PREPARING = (
    "Your interview environment is being set up. This page opens by itself as soon as it is ready"
    " (usually within a few minutes): there is nothing you need to do meanwhile."
)
#: why a replaced candidate link is refused (the console's "New link" revokes the previous one)
LINK_REPLACED = (
    "This interview link was replaced by a newer one: use the link your interviewer sent you last."
)


def store() -> InterviewStore | None:
    return current_app.extensions.get(STORE)


@dataclass(frozen=True)
class Served:
    """A scenario this server runs interviews on, and the dataset its candidates investigate."""

    scenario: Scenario
    dataset: Path


def served() -> Mapping[str, Served]:
    """The scenarios this server runs interviews on now, by id: those whose dataset is there (on an
    interview day, every one whose dataset is ready)."""
    day = the_day()
    for scenario_id in [*current_app.extensions[SERVED], *(day.scenarios if day is not None else ())]:
        find_served(scenario_id)
    return current_app.extensions[SERVED]


def the_day() -> Day | None:
    """The interview day this server runs, if it runs one (``obsim run`` without a scenario)."""
    return current_app.extensions.get(DAY)


def find_served(scenario_id: str) -> Served | None:
    """The scenario if this server runs it: on an interview day, as soon as its dataset is ready; no
    longer once its dataset is gone (``obsim cache prune`` or ``clear`` while serving)."""
    known: dict[str, Served] = current_app.extensions[SERVED]
    here = known.get(scenario_id)
    if here is not None and not (here.dataset / MANIFEST_NAME).is_file():
        known.pop(scenario_id, None)
    if scenario_id not in known and (day := the_day()) is not None:
        ready = day.dataset(scenario_id)
        if ready is not None:
            known.setdefault(scenario_id, Served(day.scenarios[scenario_id], ready))
    return known.get(scenario_id)


def scenario() -> Scenario:
    """The scenario of this request's candidate: each candidate investigates their own session's."""
    return current_app.extensions[SERVED][g.interview.scenario_id].scenario


def install(
    app: Flask,
    interviews: InterviewStore,
    incidents: Mapping[str, Served],
    public_url: str,
    day: Day | None = None,
) -> None:
    """Require a candidate link and a running clock on every candidate page, refuse cross-site and
    oversized writes, and record what each candidate does; ``incidents`` are the scenarios served
    (a candidate's requests read their session's dataset), and on an interview ``day`` those whose
    dataset becomes ready; ``public_url`` is where candidates reach the server (their links are
    built on it)."""
    app.extensions[STORE] = interviews
    app.extensions[SERVED] = dict(incidents)
    if day is not None:
        app.extensions[DAY] = day
    protection.install(app, public_url)
    app.before_request(_require_candidate)
    app.register_error_handler(Refused, _refused)
    app.after_request(_record)
    app.context_processor(interview_context)


class Refused(HTTPException):
    """A candidate request refused, saying why: ``reason`` (for a script) and a message
    for the candidate; ``clock`` where the session's clock stands when the clock decided.  403,
    but 503 when the server cannot serve the session's data now (not the candidate's doing)."""

    def __init__(self, reason: Refusal, message: str, clock: Clock | None = None) -> None:
        super().__init__(description=message)
        self.code = 503 if reason in UNAVAILABLE else 403
        self.reason = reason
        self.clock = clock

    @classmethod
    def by_clock(cls, clock: Clock, message: str) -> Refused:
        return cls(CLOCK_REFUSALS[clock], message, clock)


def _require_candidate() -> None:
    if request.endpoint in OPEN_ENDPOINTS or request.blueprint == "console":
        return
    interview = _candidate()
    incident = _served_or_refused(interview.scenario_id)
    refusal = interview.refusal()
    if refusal is not None:
        raise Refused.by_clock(interview.clock(), refusal)
    g.interview = interview
    _read_from(incident)


def _served_or_refused(scenario_id: str) -> Served:
    """The scenario a candidate's session runs on, served here; else refused, saying whether its
    environment is being set up (this server generates its dataset) or is not available here."""
    incident = find_served(scenario_id)
    if incident is not None:
        return incident
    if _being_prepared(scenario_id):
        raise Refused(Refusal.PREPARING, PREPARING)
    raise Refused(
        Refusal.NOT_SERVED,
        "Your interview's data is not available on this server right now: tell your interviewer.",
    )


def _being_prepared(scenario_id: str) -> bool:
    """Whether this server is generating the scenario's dataset now."""
    day = the_day()
    return day is not None and day.under_way(scenario_id) is not None


def _tool_api(path: str) -> bool:
    """Whether ``path`` is an API tools call as they would a Prometheus or a Loki (the latter only
    to be told it is not offered): sent the API token rather than a cookie, answered in JSON."""
    return prometheus_api.is_prometheus_api(path) or loki_api.is_loki_api(path)


def _candidate() -> InterviewSession:
    """Whose request this is: the session of the link in the cookie; on the tools' APIs, where
    tools send no cookie, also the session of the API token shown on the candidate's pages, sent
    as a bearer token or as the password of HTTP basic auth (``http://api:TOKEN@host``: what
    promtool 2.x and Grafana's basic auth can send).  Refused, saying why, when there is none."""
    token = request.cookies.get(protection.cookie_name("candidate"), "")
    if token:
        g.link_token = token
        interview = store().session_for_link(token)
    elif _tool_api(request.path) and request.authorization is not None:
        given = request.authorization.token or request.authorization.password
        interview = store().session_for_api_token(given) if given else None
    else:
        raise Refused(
            Refusal.NO_LINK, "This platform opens with the interview link your interviewer sent you: open it."
        )
    if interview is None and token and store().link_replaced(token):
        raise Refused(Refusal.LINK_REVOKED, LINK_REPLACED)
    if interview is None:
        raise Refused(
            Refusal.LINK_REVOKED,
            "This interview link (or API token) no longer works: the interview was removed or replaced."
            " Ask your interviewer for a new link.",
        )
    return interview


def _read_from(incident: Served) -> None:
    """This request reads ``incident``'s dataset and shows its brief (see :mod:`request_context`)."""
    g.dataset_dir = incident.dataset
    g.brief = incident.scenario.brief.strip()


def _refused(refused: Refused) -> Response:
    """The refusal saying why: Prometheus's envelope on its API, JSON for ours and on Loki's paths
    (which tools call), else a page that reloads itself while the clock (or the server's data) may
    yet open the platform; while the environment is set up, with when to try again (``Retry-After``)."""
    if prometheus_api.is_prometheus_api(request.path):
        response = prometheus_api.error_response(refused.description or "", refused.code or 403)
    elif request.path.startswith("/api/") or loki_api.is_loki_api(request.path):
        body = {"error": refused.description, "reason": refused.reason.value}
        if refused.clock is not None:
            body["clock"] = refused.clock.value
        response = current_app.json.response(body)
    else:
        waits = refused.clock is not None or refused.reason in UNAVAILABLE
        response = Response(
            render_template(
                "gate.html",
                message=refused.description,
                reason=refused.reason.value,
                refresh_s=GATE_REFRESH_S if waits else None,
            )
        )
    response.status_code = refused.code or 403
    if refused.reason is Refusal.PREPARING:
        response.headers["Retry-After"] = str(GATE_REFRESH_S)
    return response


def _record(response: Response) -> Response:
    interview: InterviewSession | None = g.get("interview")
    if interview is None or request.endpoint in OPEN_ENDPOINTS:
        return response
    prometheus = prometheus_api.is_prometheus_api(request.path)
    if request.method != "GET" and not (prometheus and request.method == "POST"):
        return response
    # Prometheus's API reads a form body as its query (promtool POSTs): recorded as what was asked
    asked = request.values if prometheus else request.args
    detail: dict[str, Any] = {
        "path": request.path,
        "args": {name: values[0] if len(values) == 1 else values for name, values in asked.lists()},
        "status": response.status_code,
        "bytes": response.calculate_content_length() or 0,
    }
    told = _error_told(response)
    if told:
        detail["error"] = told[:ERROR_CHARS]
    time_range = g.get("time_range")
    shown = g.get("shown_range") or (time_range and (time_range.start, time_range.end))
    if shown:
        detail["range"] = list(shown)
    kind = "api" if request.path.startswith("/api/") or loki_api.is_loki_api(request.path) else "view"
    store().record(interview.id, kind, detail, sim_time=shown[1] if shown else None)
    return response


def _error_told(response: Response) -> str | None:
    """What a refused or failed request told the candidate: the message an error handler or a page's
    input error set, else a JSON answer's ``error`` (the API views that answer errors themselves)."""
    if response.status_code < 400:
        return None
    if g.get("error_message"):
        return str(g.error_message)
    body = response.get_json(silent=True) if response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error else None


def interview_context() -> dict[str, Any]:
    """What every candidate page shows of the session (and ``/api/interview`` answers): the clock,
    the time left and the hints released."""
    interview: InterviewSession | None = g.get("interview")
    if interview is None:
        return {}
    hints = scenario().hints
    # read as this page is built: from now on the candidate has seen them (a release can no longer be undone)
    shown = store().hints_for_candidate(interview.id)
    released = [hints[index].text for index in shown if index < len(hints)]
    link_token = g.get("link_token")
    return {
        "interview": interview,
        "api_token": store().api_token_for(interview.id, link_token) if link_token else None,
        "public_url": protection.public_url(),
        "released_hints": released,
        "remaining_s": interview.remaining_s(),
        "grace_left_s": interview.limit_s() + interview.grace_s - interview.elapsed_s()
        if interview.clock() is Clock.GRACE
        else None,
    }


def _linked(token: str) -> InterviewSession:
    """The session of a candidate link served here: refused while its environment is set up (a page
    that reloads itself until the link opens), not found on a server that does not run it."""
    found = store().session_for_link(token) if store() is not None else None
    if found is None and store() is not None and store().link_replaced(token):
        abort(403, description=LINK_REPLACED)
    if found is not None and find_served(found.scenario_id) is None and _being_prepared(found.scenario_id):
        raise Refused(Refusal.PREPARING, PREPARING)
    if found is None or find_served(found.scenario_id) is None:
        abort(404, description="This interview link is not valid. Ask your interviewer for a new one.")
    return found


@bp.get("/interview/clock")
def clock_state() -> Response:
    """Where the candidate's clock stands (``clock``, ``remaining_s``), polled by an open page so that
    it notices a pause or the end without the candidate reloading it.  Open while paused (it is how
    the page learns of the pause) and never recorded: polling is not investigating."""
    token = request.cookies.get(protection.cookie_name("candidate"), "")
    interview = store().session_for_link(token) if token and store() is not None else None
    if interview is None:
        response = current_app.json.response({"error": "Open the interview link your interviewer sent you."})
        response.status_code = 403
        return response
    return current_app.json.response(
        {"clock": interview.clock().value, "remaining_s": interview.remaining_s()}
    )


@bp.get("/join/<token>")
def join_page(token: str) -> str:
    """The link's start page: it sets nothing, so a link opened by another site logs nobody in."""
    found = _linked(token)
    return render_template(
        "gate.html",
        message=f"{found.candidate}, your interview runs {found.limit_s() / 60:g} minutes on the clock"
        " your interviewer keeps. Open the platform when you are ready.",
        join=url_for("interview.join", token=token),
    )


@bp.post("/join/<token>")
def join(token: str) -> Response:
    """The start page's button: remember the link in this browser and open the platform."""
    found = _linked(token)
    _read_from(current_app.extensions[SERVED][found.scenario_id])
    identity = {key: dataset().manifest.get(key) for key in DATASET_IDENTITY}
    store().record(found.id, "join", {"dataset": identity})
    return protection.remember(redirect("/", code=303), "candidate", token, samesite="Lax", path="/")


def evidence_choices(session_id: str) -> list[Event]:
    """The pages this candidate opened and the API calls they made (evidence seen through the API
    counts like evidence seen on a page) that can be cited, newest first, one per URL."""
    return list(dict.fromkeys(citable_events(session_id).values()))[:MAX_EVIDENCE_CHOICES]


def citable_events(session_id: str) -> dict[str, Event]:
    """Every page opening and API call of this candidate that can be cited, by event id, each
    standing for the newest opening of its URL: a form loaded before a page was opened again still
    cites it.  Newest first."""
    newest: dict[str, Event] = {}
    citable: dict[str, Event] = {}
    for event in reversed(store().events(session_id)):
        if is_request(event) and view_of(event.detail["path"]) and event.detail["status"] == 200:
            citable[str(event.id)] = newest.setdefault(link_of(event), event)
    return citable


def link_of(event: Event) -> str:
    """The recorded page or call as the candidate opened it: path and query string."""
    args = event.detail.get("args", {})
    return event.detail["path"] + (f"?{urlencode(args, doseq=True)}" if args else "")


def _cited(event: Event) -> dict[str, str]:
    args = event.detail.get("args", {})
    return {
        "view": view_of(event.detail["path"]),
        "query": args.get("query") or args.get("q") or "",
        "link": link_of(event),
    }


class SubmissionRefused(ValueError):
    """Findings that cannot be stored as given: ``problems`` maps each form field at fault to what is
    wrong with it (``locations.0.lines: ...`` where the field has parts)."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__("; ".join(text for texts in problems.values() for text in texts))
        self.problems = problems


#: the submission form's fields: free text (``locations`` and ``causal_chain`` one item a line),
#: and the two lists of checkboxes
SUBMISSION_TEXT_FIELDS = (
    "root_cause",
    "locations",
    "mechanism",
    "starts_at",
    "repeats",
    "causal_chain",
    "mitigation",
    "fix",
    "prevention",
    "confidence",
)
SUBMISSION_LIST_FIELDS = ("evidence_views", "evidence_events")


#: what makes a submission say something: with all of these empty it is refused, not stored
_FINDINGS = (
    "root_cause",
    "locations",
    "mechanism",
    "causal_chain",
    "evidence",
    "mitigation",
    "fix",
    "prevention",
)
EMPTY_SUBMISSION = "root_cause: the submission is empty; write at least the root cause as you see it"


def accept_submission(fields: MultiDict[str, str]) -> SubmissionRecord:
    """Validate, score and store this candidate's findings given as the submission form's fields: the
    form and the JSON API (which hands its body over as those fields) share this one path.  Raises
    :class:`SubmissionRefused` naming each field at fault, or :class:`Refused` when the clock ran
    out while the request was answered."""
    session_id = g.interview.id
    mine = citable_events(session_id)
    chosen = fields.getlist("evidence_events")
    unknown = [event_id for event_id in chosen if event_id not in mine]
    if unknown:
        raise SubmissionRefused(
            {
                "evidence_events": [
                    f"evidence_events: {', '.join(unknown)} are not pages you opened in this interview"
                ]
            }
        )
    views = fields.getlist("evidence_views")
    try:
        cited = list(dict.fromkeys(mine[i] for i in chosen))  # one per page, however often opened
        submission = Submission.model_validate(_submission_document(fields, views, cited))
    except ValidationError as error:
        problems: dict[str, list[str]] = {}
        for problem in error.errors():
            field = _form_field(problem["loc"], len(views))
            where = ".".join(str(part) for part in problem["loc"])
            problems.setdefault(field, []).append(f"{where}: {problem['msg']}")
        raise SubmissionRefused(problems) from None
    if not any(getattr(submission, field) for field in _FINDINGS):
        # A stray or accidental post would otherwise stand as the candidate's latest answer.
        raise SubmissionRefused({"root_cause": [EMPTY_SUBMISSION]})
    looked = evidence_seen(scenario(), store().events(session_id))
    result = score(scenario(), submission, on_screen={item.view for item, _ in looked})
    try:
        return store().submit(session_id, submission.model_dump(mode="json"), result.to_json())
    except InterviewClosed as closed:
        raise Refused.by_clock(closed.clock, str(closed)) from None


def _form_field(location: tuple[int | str, ...], views: int) -> str:
    """The form field a problem of the submission document at ``location`` comes from: its evidence
    is the views checked, then the pages cited."""
    if location and location[0] == "evidence":
        cited = len(location) > 1 and isinstance(location[1], int) and location[1] >= views
        return "evidence_events" if cited else "evidence_views"
    return str(location[0]) if location else "submission"


def _submission_document(fields: MultiDict[str, str], views: list[str], cited: list[Event]) -> dict[str, Any]:
    """The form's fields as a submission document (validated by the Submission model after)."""
    locations = []
    for line in fields.get("locations", "").splitlines():
        file, _, lines = line.strip().partition(":")
        if not file:
            continue
        first, _, last = lines.partition("-")
        location: dict[str, Any] = {"file": file.strip()}
        if first.strip():
            location["lines"] = [first.strip(), (last or first).strip()]
        locations.append(location)
    document: dict[str, Any] = {
        "root_cause": fields.get("root_cause", "").strip(),
        "locations": locations,
        "mechanism": fields.get("mechanism", "").strip(),
        "causal_chain": [
            step.strip() for step in fields.get("causal_chain", "").splitlines() if step.strip()
        ],
        "mitigation": fields.get("mitigation", "").strip(),
        "fix": fields.get("fix", "").strip(),
        "prevention": fields.get("prevention", "").strip(),
        "evidence": [{"view": view} for view in views] + [_cited(event) for event in cited],
    }
    for key in ("repeats", "starts_at", "confidence"):
        if fields.get(key, "").strip():
            document[key] = fields[key].strip()
    return document


@bp.route("/submit", methods=["GET", "POST"])
def submit() -> tuple[str, int]:
    """The submission form; posted, its findings are stored (or the problems listed beside it)."""
    errors: list[str] = []
    stored = None
    if request.method == "POST":
        try:
            stored = accept_submission(request.form)
        except SubmissionRefused as refused:
            errors = [text for texts in refused.problems.values() for text in texts]
    body = render(
        "submit.html",
        None,
        page_title="Submit your findings",
        views=get_args(View),
        errors=errors,
        form=request.form,
        stored=stored,
        notes=latest_notes(g.interview.id),
        evidence_choices=[(event.id, describe(event)) for event in evidence_choices(g.interview.id)],
        cited=set(request.form.getlist("evidence_events")),
    )
    return body, 400 if errors else 200


@bp.post("/notes")
def notes() -> Response:
    """The candidate's scratch notes, saved as they type (the interviewer sees each saved version;
    their length is limited in :data:`protection.FIELD_LIMITS`)."""
    store().record(g.interview.id, "notes", {"text": request.form.get("text", "")})
    return Response(status=204)


def latest_notes(session_id: str) -> str:
    saved = [event for event in store().events(session_id) if event.kind == "notes"]
    return str(saved[-1].detail.get("text", "")) if saved else ""
