"""An interview over the real connection-leak dataset: links, recording, hints, submission, console,
and what a candidate or an anonymous client must not reach."""

from __future__ import annotations

import re

import pytest

from observability_ui.app import create_app
from obsim import scenario as scenarios
from obsim.interview.store import InterviewStore

pytestmark = pytest.mark.slow

LEAK = scenarios.load("connection-leak")


@pytest.fixture
def setup(datasets, tmp_path):
    url = f"sqlite:///{tmp_path / 'interviews.sqlite'}"
    interviews = InterviewStore(url)
    token = interviews.interviewer_token()
    app = create_app(datasets["connection-leak"], LEAK.brief, interviews=interviews, incident=LEAK)
    return app, interviews, token, url, datasets["connection-leak"]


def interviewer(app, token):
    client = app.test_client()
    response = client.get(f"/interviewer/login/{token}")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return client


def new_candidate(app, console, name: str):
    page = console.post("/interviewer/sessions", data={"candidate": name}).get_data(as_text=True)
    link = re.search(r"http://localhost(/join/[\w-]+)", page).group(1)
    client = app.test_client()
    response = client.get(link)
    assert response.status_code == 302 and "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    return client


def session_id(interviews: InterviewStore, name: str) -> str:
    return next(s.id for s in interviews.sessions() if s.candidate == name)


def test_without_a_link_nothing_is_served(setup):
    app, _, _, _, _ = setup
    anonymous = app.test_client()
    for path in ("/", "/logs", "/code/", "/submit"):
        response = anonymous.get(path)
        assert response.status_code == 403 and "interview link" in response.get_data(as_text=True), path
    api = anonymous.get("/api/metrics/names")
    assert api.status_code == 403 and "error" in api.json
    assert anonymous.get("/join/not-a-real-link").status_code == 404
    assert anonymous.get("/interviewer/").status_code == 403
    assert anonymous.get("/interviewer/login/wrong-token").status_code == 403


def test_a_candidate_cannot_reach_the_console_or_the_answers(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    for path in ("/interviewer/", f"/interviewer/sessions/{session_id(interviews, 'Ada')}"):
        assert ada.get(path).status_code == 403
    assert (
        ada.post(f"/interviewer/sessions/{session_id(interviews, 'Ada')}/hint", data={"index": 0}).status_code
        == 403
    )
    summary_line = LEAK.ground_truth.summary.strip().splitlines()[0]
    for path in ("/", "/logs", "/code/", "/submit", "/api/openapi.json"):
        body = ada.get(path).get_data(as_text=True)
        assert summary_line not in body and "decoy" not in body.lower(), path
    assert ada.get("/code/../scenarios/connection-leak/fix.patch").status_code == 404


def test_the_investigation_is_recorded_per_candidate_and_hints_reach_only_their_candidate(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada, bob = new_candidate(app, console, "Ada"), new_candidate(app, console, "Bob")
    ada_id, bob_id = session_id(interviews, "Ada"), session_id(interviews, "Bob")
    assert ada.get("/").status_code == 200
    query = '{level="error"} |= "timed out"'
    assert ada.get("/api/logs", query_string={"query": query, "from": "now-30m"}).status_code == 200
    assert bob.get("/database").status_code == 200

    ada_events = interviews.events(ada_id)
    assert [(e.kind, e.detail["path"]) for e in ada_events] == [("view", "/"), ("api", "/api/logs")]
    logs = ada_events[1]
    assert logs.detail["args"]["query"] == query and logs.detail["status"] == 200 and logs.detail["bytes"] > 0
    assert logs.sim_time == pytest.approx(logs.detail["range"][1]) and logs.detail["range"][0] < logs.sim_time
    assert [e.detail["path"] for e in interviews.events(bob_id)] == ["/database"]

    hint = LEAK.hints[0].text
    assert console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": 0}).status_code == 302
    assert hint in ada.get("/logs").get_data(as_text=True)
    assert hint not in bob.get("/logs").get_data(as_text=True)
    timeline = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert "/api/logs" in timeline and "timed out" in timeline and "released" in timeline


def test_a_submission_is_validated_scored_and_shown_to_the_interviewer(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    bad = ada.post("/submit", data={"root_cause": "x", "mechanism": "gremlins", "locations": "lib/x.py:9-3"})
    assert bad.status_code == 400 and "Nothing was submitted" in bad.get_data(as_text=True)
    assert interviews.submissions(ada_id) == []

    good = ada.post(
        "/submit",
        data={
            "root_cause": "Transactions leak when the validation call times out: no rollback, no close.",
            "locations": "lib/database/transactions.py:59-76\nservices/workflow_service/workflows.py:43-51",
            "mechanism": "resource-leak",
            "repeats": "none",
            "starts_at": "2026-03-10T14:20:00Z",
            "fix": "Roll back and close in a finally block for every exception.",
            "evidence_views": ["metrics", "database"],
        },
    )
    assert good.status_code == 200 and "were submitted" in good.get_data(as_text=True)
    (stored,) = interviews.submissions(ada_id)
    assert stored.late is False and stored.automatic_score["total"] >= 60
    assert stored.body["locations"][0] == {"file": "lib/database/transactions.py", "lines": [59, 76]}
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert f"{stored.automatic_score['total']}" in page and "exact lines" in page


def test_the_clock_and_deleting_a_session(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    assert console.post(f"/interviewer/sessions/{ada_id}/start").status_code == 302
    assert "min left" in ada.get("/").get_data(as_text=True)
    assert console.post(f"/interviewer/sessions/{ada_id}/delete").status_code == 302
    assert interviews.get(ada_id) is None and interviews.events(ada_id) == []
    assert ada.get("/").status_code == 403, "a deleted session's link no longer works"


def test_a_restart_loses_nothing(setup):
    app, interviews, token, url, dataset = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada.get("/jobs")
    interviews.engine.dispose()

    again = InterviewStore(url)
    assert again.interviewer_token() is None
    restarted = create_app(dataset, LEAK.brief, interviews=again, incident=LEAK)
    assert "Ada" in interviewer(restarted, token).get("/interviewer/").get_data(as_text=True)
    survivor = restarted.test_client()
    survivor.set_cookie("obsim_candidate", ada.get_cookie("obsim_candidate").value)
    assert survivor.get("/").status_code == 200
    assert [e.detail["path"] for e in again.events(session_id(again, "Ada"))] == ["/jobs", "/"]


def test_obsim_interview_new_list_delete_on_the_servers_database(setup, capsys):
    from obsim.cli import main

    app, interviews, _, url, _ = setup
    assert main(["interview", "--db", url, "new", "connection-leak", "--candidate", "Grace"]) == 0
    printed = capsys.readouterr().out
    link = re.search(r"http://127\.0\.0\.1:8000(/join/[\w-]+)", printed).group(1)
    client = app.test_client()
    assert client.get(link).status_code == 302 and client.get("/").status_code == 200
    assert main(["interview", "--db", url, "list"]) == 0
    assert "Grace" in capsys.readouterr().out
    _, other_link = interviews.create_session("Eve", "cron-storm", 1, 900)
    assert app.test_client().get(f"/join/{other_link}").status_code == 404, "a link for another scenario"
    grace = session_id(interviews, "Grace")
    assert main(["interview", "--db", url, "delete", grace]) == 0
    assert client.get("/").status_code == 403
    assert main(["interview", "--db", url, "delete", grace]) == 2
