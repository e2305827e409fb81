"""Issue 19: the candidate's API is complete and says why.

On an interview server the OpenAPI document lists the candidate's own calls (the clock and hints,
what can be cited, notes, submissions), a JSON submission is stored exactly as the form stores the
same fields, a body that cannot be used is refused naming each field, and every refused request
says why (no link, link revoked, not started, paused, over; not served) in JSON for the API and in
a page for pages.  Through Flask's test client, a real interviews database and hand-made datasets;
every answer is validated against the document the server serves (openapi-core), and schemathesis
runs over the candidate's operations.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, get_args

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate as validate_document
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, status_code_conformance
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

from interview.store import InterviewSession, InterviewStore
from observability_ui import openapi, protection
from obsim.scenario import View
from tests.conftest import HANDMADE_START
from tests.interviewing import LEAK, PUBLIC, console_of, joined, new_session, server, session_of

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path, interviews: InterviewStore) -> Flask:
    return server(tmp_path, interviews, LEAK)


@pytest.fixture
def console(app: Flask, token: str) -> FlaskClient:
    return console_of(app, token)


@pytest.fixture
def ada(app: Flask, console: FlaskClient, interviews: InterviewStore) -> FlaskClient:
    """A candidate who joined by their link, their clock started."""
    candidate = joined(app, new_session(console, "Ada", LEAK))
    assert console.post(f"/interviewer/sessions/{session_of(interviews, 'Ada')}/start").status_code == 302
    return candidate


@pytest.fixture
def spec(ada: FlaskClient) -> OpenAPI:
    """The document as the interview server serves it to its candidate."""
    served = ada.get("/api/openapi.json")
    assert served.status_code == 200
    return OpenAPI.from_dict(served.json)


def call(
    client: FlaskClient, spec: OpenAPI, method: str, path: str, body: Any = None, **options: Any
) -> TestResponse:
    """One request, its answer validated against the served document (status documented, body fits)."""
    response = client.open(path, method=method, json=body, **options)
    request = Request(EnvironBuilder(path=path, method=method, base_url="http://localhost").get_environ())
    spec.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
    return response


def test_the_served_document_lists_every_candidate_call_and_only_on_an_interview_server(app, ada, spec):
    document = ada.get("/api/openapi.json").json
    validate_document(document)
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            routes.setdefault(openapi.path_of(rule.rule), set()).update(rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: {method.upper() for method in item} for path, item in document["paths"].items()}
    assert routes == documented
    assert {"/api/submissions", "/api/notes", "/api/evidence", "/api/interview"} <= set(documented)
    assert documented["/api/submissions"] == {"GET", "POST"} and documented["/api/notes"] == {"GET", "PUT"}
    # every call may be refused for the candidate, and says why
    assert all(
        "403" in operation["responses"] for item in document["paths"].values() for operation in item.values()
    )
    assert set(openapi.CANDIDATE_PATHS).isdisjoint(openapi.document()["paths"]), "none without an interview"


def test_a_json_submission_is_stored_and_scored_as_the_form_stores_the_same_fields(ada, spec, interviews):
    assert ada.get("/database").status_code == 200
    query = {"query": "db_client_connection_count", "at": str(HANDMADE_START + 300)}
    assert ada.get("/api/metrics/query", query_string=query).status_code == 200
    offered = call(ada, spec, "GET", "/api/evidence").json
    assert offered["views"] == list(get_args(View))
    cited = [event["id"] for event in offered["events"]]
    assert [event["link"].split("?")[0] for event in offered["events"]] == ["/api/metrics/query", "/database"]
    form = {
        "root_cause": "Connections are taken and never given back to the pool.",
        "locations": "lib/database/pool.py:10-24\nlib/database/transactions.py",
        "mechanism": "an early return skips the release",
        "causal_chain": "a connection leaks\nthe pool empties\nrequests time out",
        "starts_at": "2026-03-10T14:05:00Z",
        "repeats": "none",
        "mitigation": "restart",
        "fix": "release in a finally",
        "prevention": "alert on pool usage",
        "confidence": "0.8",
        "evidence_views": ["database"],
        "evidence_events": [str(event_id) for event_id in cited],
    }
    by_form = ada.post("/submit", data=form)
    assert by_form.status_code == 200 and 'data-testid="submitted"' in by_form.get_data(as_text=True)
    as_json = form | {
        "locations": form["locations"].splitlines(),
        "causal_chain": form["causal_chain"].splitlines(),
        "confidence": 0.8,
        "evidence_events": cited,
    }
    stored = call(ada, spec, "POST", "/api/submissions", as_json)
    assert stored.status_code == 201, stored.json
    assert stored.json["status"] == "on time" and stored.json["submitted_at"].endswith("Z")

    first, second = interviews.submissions(session_of(interviews, "Ada"))
    assert second.id == stored.json["id"]
    assert second.body == first.body and second.automatic_score == first.automatic_score
    assert second.body["locations"][0] == {"file": "lib/database/pool.py", "lines": [10, 24]}
    assert [item["view"] for item in second.body["evidence"]] == ["database", "metrics", "database"]
    listed = call(ada, spec, "GET", "/api/submissions").json["submissions"]
    assert [item["id"] for item in listed] == [first.id, second.id]
    assert listed[1]["submission"] == second.body and "automatic_score" not in json.dumps(listed)


def test_nothing_the_candidate_receives_names_the_tool(app, console, interviews):
    """The cookie the link sets, the API token the pages show and the API's own document say what
    they are, never the tool behind the interview."""
    link = new_session(console, "Grace", LEAK)
    joining = app.test_client().post(link.removeprefix(PUBLIC), headers={"Sec-Fetch-Site": "same-origin"})
    assert joining.status_code == 303
    grace = joined(app, link)
    assert console.post(f"/interviewer/sessions/{session_of(interviews, 'Grace')}/start").status_code == 302
    received = [joining.headers["Set-Cookie"], grace.get("/").get_data(as_text=True)]
    received.append(grace.get("/api/openapi.json").get_data(as_text=True))
    token = re.search(r'data-testid="api-token">([^<]+)<', received[1])
    assert token is not None, "the pages show the API token"
    assert not [text for text in received if "obsim" in text.lower()], [
        text[:200] for text in received if "obsim" in text.lower()
    ]


def test_a_form_loaded_before_a_page_was_opened_again_still_cites_it(ada, spec, interviews):
    """The form lists each page once, under its newest opening; an id from an earlier load of the
    form (the page opened again since) still cites that page, once."""
    assert ada.get("/database").status_code == 200
    stale = call(ada, spec, "GET", "/api/evidence").json["events"][0]["id"]
    assert ada.get("/database").status_code == 200
    fresh = call(ada, spec, "GET", "/api/evidence").json["events"][0]["id"]
    assert fresh != stale
    body = {"root_cause": "Connections are never given back.", "evidence_events": [stale, fresh]}
    stored = call(ada, spec, "POST", "/api/submissions", body)
    assert stored.status_code == 201, stored.json
    (submission,) = interviews.submissions(session_of(interviews, "Ada"))
    assert [item["link"] for item in submission.body["evidence"]] == ["/database"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"root_cause": 5}, "root_cause", "must be a string"),
        ({"rootcause": "typo"}, "rootcause", "not a field; the fields are root_cause, locations"),
        ({"locations": "lib/x.py:ten-12"}, "locations", "locations.0.lines"),
        ({"locations": [["lib/x.py"]]}, "locations", "a string of lines or a list of strings"),
        ({"repeats": "weekly"}, "repeats", "repeats: Input should be 'none', 'minutes', 'hourly' or 'daily'"),
        ({"starts_at": "2026-03-10T14:05:00"}, "starts_at", "in UTC with its offset"),
        ({"confidence": 2}, "confidence", "less than or equal to 1"),
        ({"confidence": True}, "confidence", "must be a string or a number"),
        ({"evidence_views": ["dashboards"]}, "evidence_views", "evidence.0.view"),
        ({"evidence_views": "database"}, "evidence_views", "must be a list"),
        ({"evidence_events": [999999]}, "evidence_events", "999999 are not pages you opened"),
        ({}, "root_cause", "the submission is empty"),
        ({"confidence": 0.5, "repeats": "none"}, "root_cause", "the submission is empty"),
    ],
)
def test_a_body_that_cannot_be_used_is_refused_naming_the_field(ada, spec, interviews, body, field, says):
    refused = call(ada, spec, "POST", "/api/submissions", body)
    assert refused.status_code == 400, refused.json
    assert list(refused.json["fields"]) == [field] and says in refused.json["fields"][field], refused.json
    assert says in refused.json["error"]
    assert interviews.submissions(session_of(interviews, "Ada")) == []


def test_an_empty_form_is_refused_and_stores_nothing(ada, interviews):
    """A stray post (no field of the form, or every finding left blank) is not an answer."""
    for form in ({"x": "1"}, {"root_cause": "  ", "mechanism": "", "confidence": "0.4"}):
        refused = ada.post("/submit", data=form)
        assert refused.status_code == 400
        assert "the submission is empty" in refused.get_data(as_text=True)
    assert interviews.submissions(session_of(interviews, "Ada")) == []


def test_a_body_that_is_no_json_object_or_too_large_is_refused_saying_so(ada, spec, interviews):
    as_form = call(ada, spec, "POST", "/api/submissions", data={"root_cause": "x"})
    assert as_form.status_code == 400 and "Content-Type: application/json" in as_form.json["error"]
    listed = call(ada, spec, "POST", "/api/submissions", ["root_cause"])
    assert listed.status_code == 400 and "must be a JSON object" in listed.json["error"]
    broken = ada.post("/api/submissions", data="{", content_type="application/json")
    assert broken.status_code == 400 and "must be a JSON object" in broken.json["error"]
    over = protection.MAX_FIELD_CHARS + 1
    large = call(ada, spec, "POST", "/api/submissions", {"mechanism": "x" * over})
    assert large.status_code == 413 and "The field mechanism is limited to 10,000" in large.json["error"]
    assert interviews.submissions(session_of(interviews, "Ada")) == []
    notes = call(ada, spec, "PUT", "/api/notes", {"text": "y" * 20_001})
    assert notes.status_code == 413 and "The field text is limited to 20,000" in notes.json["error"]


def test_notes_are_saved_and_read_back_as_the_page_saves_them(ada, spec, interviews):
    assert call(ada, spec, "GET", "/api/notes").json == {"text": ""}
    assert call(ada, spec, "PUT", "/api/notes", {"text": "pool at 200/200 since 14:05"}).status_code == 204
    assert call(ada, spec, "GET", "/api/notes").json == {"text": "pool at 200/200 since 14:05"}
    assert "pool at 200/200 since 14:05" in ada.get("/submit").get_data(as_text=True)
    assert ada.post("/notes", data={"text": "from the page"}).status_code == 204
    assert call(ada, spec, "GET", "/api/notes").json == {"text": "from the page"}
    saved = [e.detail["text"] for e in interviews.events(session_of(interviews, "Ada")) if e.kind == "notes"]
    assert saved == ["pool at 200/200 since 14:05", "from the page"]
    assert call(ada, spec, "PUT", "/api/notes", {"text": 7}).json["fields"] == {
        "text": "text: must be a string"
    }


def test_the_interview_call_answers_the_clock_and_the_released_hints(ada, spec, console, interviews):
    status = call(ada, spec, "GET", "/api/interview").json
    assert status["candidate"] == "Ada" and status["clock"] == "running" and status["hints"] == []
    assert (
        status["limit_s"] == LEAK.time_limit_minutes * 60 and 0 < status["remaining_s"] <= status["limit_s"]
    )
    assert status["grace_left_s"] is None
    ada_id = session_of(interviews, "Ada")
    assert console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": 0}).status_code == 302
    assert call(ada, spec, "GET", "/api/interview").json["hints"] == [LEAK.hints[0].text]


def refusal(client: FlaskClient, spec: OpenAPI, reason: str, status: int = 403) -> dict[str, Any]:
    """Every kind of candidate request refused for ``reason``: the API in JSON (its ``reason`` and a
    message), the pages with a page that says it; nothing is stored."""
    for method, path, body in (
        ("GET", "/api/metrics/names", None),
        ("GET", "/api/interview", None),
        ("PUT", "/api/notes", {"text": "x"}),
        ("POST", "/api/submissions", {"root_cause": "x"}),
    ):
        answer = call(client, spec, method, path, body)
        assert answer.status_code == status and answer.json["reason"] == reason, (path, answer.json)
    refused = answer.json
    for method, path in (("GET", "/"), ("GET", "/submit"), ("POST", "/submit"), ("POST", "/notes")):
        page = client.open(path, method=method, data={"text": "x"})
        text = page.get_data(as_text=True)
        assert page.status_code == status and f'data-reason="{reason}"' in text, (path, text[:300])
        assert refused["error"].split(":")[0].replace("'", "&#39;") in text
    return refused


def test_every_refused_request_says_why(app, ada, spec, console, interviews):
    ada_id = session_of(interviews, "Ada")
    anonymous = app.test_client()
    assert "open it" in refusal(anonymous, spec, "no_link")["error"]

    assert console.post(f"/interviewer/sessions/{ada_id}/pause").status_code == 302
    paused = refusal(ada, spec, "paused")
    assert paused["clock"] == "paused" and "paused the interview" in paused["error"]
    assert console.post(f"/interviewer/sessions/{ada_id}/start").status_code == 302

    with interviews.transaction() as db:  # as if the limit and its grace had passed
        db.get(InterviewSession, ada_id).started_at -= timedelta(seconds=LEAK.time_limit_minutes * 60 + 200)
    over = refusal(ada, spec, "over")
    assert over["clock"] == "closed" and "Time is up" in over["error"]

    bob = joined(app, new_session(console, "Bob", LEAK))
    waiting = refusal(bob, spec, "not_started")
    assert waiting["clock"] == "waiting" and "not started" in waiting["error"]
    assert console.post(f"/interviewer/sessions/{session_of(interviews, 'Bob')}/delete").status_code == 302
    revoked = refusal(bob, spec, "link_revoked")
    assert "no longer works" in revoked["error"] and "clock" not in revoked
    assert interviews.submissions(ada_id) == [] and not any(
        e.kind in ("notes", "api") and e.detail.get("path") != "/api/openapi.json"
        for e in interviews.events(ada_id)
    )
    # a page refused by the link says so without reloading itself; one refused by the clock reloads
    assert 'http-equiv="refresh"' not in anonymous.get("/").get_data(as_text=True)
    assert 'http-equiv="refresh"' in ada.get("/").get_data(as_text=True)


# --- the candidate's operations, property-based ---------------------------------------------------

candidate_schema = schemathesis.openapi.from_dict(
    json.loads(
        json.dumps(
            {
                **openapi.document(interview=True),
                "paths": {
                    path: openapi.document(interview=True)["paths"][path] for path in openapi.CANDIDATE_PATHS
                },
            }
        )
    )
)
candidate_schema.config.generation.update(
    modes=["positive", "negative"], max_examples=30, deterministic=True, database="none"
)
# a field over its size limit is refused with 413 naming it, as every write on the platform
rejection = candidate_schema.config.checks.negative_data_rejection
rejection.expected_statuses = [*rejection.expected_statuses, "413"]


@pytest.fixture(scope="module")
def candidate_app(tmp_path_factory) -> tuple[Flask, dict[str, str]]:
    """An interview server and the cookie of a candidate whose clock runs (for schemathesis)."""
    root = tmp_path_factory.mktemp("candidate-api")
    interviews = InterviewStore(f"sqlite:///{root / 'interviews.sqlite'}")
    app = server(root, interviews, LEAK)
    console = console_of(app, interviews.interviewer_token(reset=True))
    candidate = joined(app, new_session(console, "Ada", LEAK))
    console.post(f"/interviewer/sessions/{session_of(interviews, 'Ada')}/start")
    with app.test_request_context():
        name = protection.cookie_name("candidate")
    return app, {"Cookie": f"{name}={candidate.get_cookie(name).value}"}


@candidate_schema.parametrize()
def test_no_candidate_call_answers_a_5xx_or_a_2xx_to_invalid_input(case: Any, candidate_app) -> None:
    app, cookie = candidate_app
    case.call_and_validate(
        app=app,
        headers=cookie,
        checks=[not_a_server_error, negative_data_rejection, status_code_conformance],
    )
