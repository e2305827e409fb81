"""The interviewer's console: sessions, the clock, the hint ladder, the candidate's live timeline,
the ground truth, submissions with their automatic score.

Reached only with the interviewer's token: ``/interviewer/login/<token>`` (the URL printed at
launch) checks it against its stored digest in constant time and keeps it in an HttpOnly,
SameSite=Strict cookie, so no other site can drive the console's forms.  Candidates, whose cookie
is a different secret, get a 403 on every page here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from observability_ui.interview import scenario, store

bp = Blueprint("console", __name__, url_prefix="/interviewer")

INTERVIEWER_COOKIE = "obsim_interviewer"


@bp.before_request
def _require_interviewer() -> Response | None:
    if store() is None:
        abort(404)
    if request.endpoint == "console.login":
        return None
    if not store().is_interviewer(request.cookies.get(INTERVIEWER_COOKIE, "")):
        return Response(render_template("console/denied.html"), 403)
    g.interviewer = True
    return None


@bp.get("/login/<token>")
def login(token: str) -> Response:
    if not store().is_interviewer(token):
        return Response(render_template("console/denied.html"), 403)
    response = redirect(url_for("console.sessions"))
    response.set_cookie(
        INTERVIEWER_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/interviewer",
    )
    return response


def _rows() -> list[dict[str, Any]]:
    return [
        {"session": s, "events": len(store().events(s.id)), "submissions": len(store().submissions(s.id))}
        for s in store().sessions()
    ]


@bp.get("/")
def sessions() -> str:
    return render_template("console/sessions.html", rows=_rows(), scenario=scenario(), created=None)


@bp.post("/sessions")
def create() -> str:
    candidate = request.form.get("candidate", "").strip()
    if not candidate or len(candidate) > 200:
        abort(400, description="Give the candidate's name (at most 200 characters).")
    incident = scenario()
    _, token = store().create_session(
        candidate, incident.id, incident.default_seed, incident.time_limit_minutes * 60.0
    )
    link = request.host_url.rstrip("/") + url_for("interview.join", token=token)
    return render_template(
        "console/sessions.html", rows=_rows(), scenario=incident, created=(candidate, link)
    )


def _session(session_id: str) -> Any:
    interview = store().get(session_id)
    if interview is None:
        abort(404, description="No such interview session.")
    return interview


@bp.get("/sessions/<session_id>")
def session(session_id: str) -> str:
    interview = _session(session_id)
    incident = scenario()
    released = set(store().released_hints(session_id))
    return render_template(
        "console/session.html",
        interview=interview,
        scenario=incident,
        hints=[(index, hint, index in released) for index, hint in enumerate(incident.hints)],
        events=store().events(session_id),
        submissions=store().submissions(session_id),
    )


@bp.post("/sessions/<session_id>/<action>")
def act(session_id: str, action: str) -> Response:
    _session(session_id)
    if action == "start":
        store().start(session_id)
    elif action == "pause":
        store().pause(session_id)
    elif action == "hint":
        try:
            index = int(request.form.get("index", ""))
        except ValueError:
            abort(400, description="Which hint? (index missing)")
        if not 0 <= index < len(scenario().hints):
            abort(400, description="No such hint.")
        store().release_hint(session_id, index)
    elif action == "delete":
        store().delete(session_id)
        return redirect(url_for("console.sessions"))
    else:
        abort(404)
    return redirect(url_for("console.session", session_id=session_id))
