"""An interview over the real connection-leak dataset: links, recording, hints, submission, console,
and what a candidate or an anonymous client must not reach."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from interview import scorecard
from interview.scoring import Submission, score
from interview.scoring.evidence import shown_span
from interview.store import InterviewStore
from observability_ui.application import create_app
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset

pytestmark = pytest.mark.slow

LEAK = scenarios.load("connection-leak")
PUBLIC = "http://localhost:8000"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup(datasets, tmp_path):
    url = f"sqlite:///{tmp_path / 'interviews.sqlite'}"
    interviews = InterviewStore(url)
    token = interviews.interviewer_token()
    app = create_app(
        datasets["connection-leak"], LEAK.brief, interviews=interviews, incident=LEAK, public_url=PUBLIC
    )
    return app, interviews, token, url, datasets["connection-leak"]


def interviewer(app, token):
    client = app.test_client()
    response = client.get(f"/interviewer/login/{token}")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return client


def new_candidate(app, console, name: str):
    """A candidate who opened their link and pressed its button, their clock started."""
    page = console.post("/interviewer/sessions", data={"candidate": name}, follow_redirects=True).get_data(
        as_text=True
    )
    link = re.search(re.escape(PUBLIC) + r"(/join/[\w-]+)", page).group(1)
    client = app.test_client()
    response = client.post(link)
    assert response.status_code == 303 and "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    started = re.search(r'href="(/interviewer/sessions/\w+)">' + re.escape(name) + "<", page).group(1)
    assert console.post(f"{started}/start").status_code == 302
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
    # the link is checked first: without one, not even the API's parameters are described
    undocumented = anonymous.get("/api/metrics/names?bogus=1")
    assert undocumented.status_code == 403 and "accepts" not in undocumented.json["error"]
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
    assert console.post("/interviewer/reveal", data={"reveal": "yes"}).status_code == 303
    reveal = console.get(f"/interviewer/sessions/{session_id(interviews, 'Ada')}").get_data(as_text=True)
    assert all(str(escape(item.description)) in reveal for item in LEAK.ground_truth.evidence), (
        "the walkthrough"
    )
    summary_line = LEAK.ground_truth.summary.strip().splitlines()[0]
    for path in ("/", "/logs", "/code/", "/submit", "/api/openapi.json"):
        body = ada.get(path).get_data(as_text=True)
        assert summary_line not in body and "decoy" not in body.lower(), path
    assert ada.get("/code/../scenarios/connection-leak/fix.patch").status_code == 404


def requests_of(interviews: InterviewStore, session: str) -> list[str]:
    return [e.detail["path"] for e in interviews.events(session) if e.kind in ("view", "api")]


def test_the_investigation_is_recorded_per_candidate_and_hints_reach_only_their_candidate(setup):
    app, interviews, token, _, dataset = setup
    console = interviewer(app, token)
    ada, bob = new_candidate(app, console, "Ada"), new_candidate(app, console, "Bob")
    ada_id, bob_id = session_id(interviews, "Ada"), session_id(interviews, "Bob")
    assert ada.get("/").status_code == 200
    query = '{level="error"} |= "timed out"'
    assert ada.get("/api/logs", query_string={"query": query, "from": "now-30m"}).status_code == 200
    assert bob.get("/database").status_code == 200

    joined, *ada_events = interviews.events(ada_id)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert joined.kind == "join" and joined.detail["dataset"]["code_hash"] == manifest["code_hash"]
    assert [(e.kind, e.detail["path"]) for e in ada_events] == [("view", "/"), ("api", "/api/logs")]
    logs = ada_events[1]
    assert logs.detail["args"]["query"] == query and logs.detail["status"] == 200 and logs.detail["bytes"] > 0
    assert logs.sim_time == pytest.approx(logs.detail["range"][1]) and logs.detail["range"][0] < logs.sim_time
    assert requests_of(interviews, bob_id) == ["/database"]

    hint = LEAK.hints[0].text
    assert console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": 0}).status_code == 302
    assert hint in ada.get("/logs").get_data(as_text=True)
    assert hint not in bob.get("/logs").get_data(as_text=True)
    timeline = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert "Logs (API): query" in timeline and "timed out" in timeline and "Hint 1 released" in timeline

    # a call refused for a parameter the API does not take is recorded as asked, with its 400
    refused = ada.get("/api/metrics/query", query_string={"query": "up", "time": "now-1h"})
    assert refused.status_code == 400 and "'time'" in refused.json["error"]
    last = interviews.events(ada_id)[-1]
    assert (last.kind, last.detail["path"], last.detail["status"]) == ("api", "/api/metrics/query", 400)
    assert last.detail["args"] == {"query": "up", "time": "now-1h"}


def test_one_trace_opened_is_recorded_at_the_time_it_shows(setup):
    """A trace page shows the trace's own spans, whatever range its links carry: that is the time
    the interview credits, so a trace opened from a link counts as a trace seen at its minute (a
    candidate citing cron-storm's job traces, opened from the jobs view, lost the evidence)."""
    app, interviews, token, _, dataset_dir = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    at = LEAK.window.start.timestamp() + 40 * 60
    with Dataset.open(dataset_dir) as dataset:
        trace_id, begin, end = dataset.connection.execute(
            "SELECT trace_id, min(start), max(start + duration) FROM spans WHERE trace_id ="
            " (SELECT trace_id FROM spans WHERE start >= ? ORDER BY start LIMIT 1) GROUP BY trace_id",
            (at,),
        ).fetchone()
    for path in (f"/traces/{trace_id}", f"/api/traces/{trace_id}", f"/traces/{trace_id}?from=now-3h"):
        assert ada.get(path).status_code == 200, path
        event = interviews.events(ada_id)[-1]
        assert event.detail["path"] == path.partition("?")[0]
        assert shown_span(event, LEAK.window.end.timestamp()) == pytest.approx((begin, end), abs=1e-3), path
        assert event.sim_time == pytest.approx(end, abs=1e-3)


def test_a_submission_is_validated_scored_and_shown_to_the_interviewer(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    bad = ada.post("/submit", data={"root_cause": "x", "locations": "lib/x.py:9-3"})
    assert bad.status_code == 400 and "Nothing was submitted" in bad.get_data(as_text=True)
    assert interviews.submissions(ada_id) == []

    good = ada.post(
        "/submit",
        data={
            "root_cause": "Transactions leak when the validation call times out: no rollback, no close.",
            "locations": "lib/database/transactions.py:59-76\nservices/workflow_service/workflows.py:43-51",
            "mechanism": "Each timed-out call leaves a pooled connection checked out, until none is left.",
            "repeats": "none",
            "starts_at": "2026-03-10T14:20:00Z",
            "fix": "Roll back and close in a finally block for every exception.",
            "evidence_views": ["metrics", "database"],
        },
    )
    assert good.status_code == 200 and "were submitted" in good.get_data(as_text=True)
    (stored,) = interviews.submissions(ada_id)
    assert stored.late is False and stored.automatic_score["total"] >= 60
    evidence = next(p for p in stored.automatic_score["parts"] if p["name"] == "evidence")
    assert (
        evidence["points"] == 0
        and "cited the database and metrics views without ever having their signal on screen"
        in evidence["why"]
    )
    assert stored.body["locations"][0] == {"file": "lib/database/transactions.py", "lines": [59, 76]}
    console.post("/interviewer/reveal", data={"reveal": "yes"})  # why each part scored: the answer
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert f"{stored.automatic_score['total']}" in page and "the exact lines of the fault" in page


def test_a_submission_stored_when_the_form_offered_a_list_still_renders_and_scores(setup):
    """Bodies stored before the mechanism was free text hold a taxonomy id there (null when none
    was picked), with the score of that time: the console and every scorecard still show them."""
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    stored = Submission(root_cause="Leaked transactions hold every pool connection").model_dump(mode="json")
    then = {"scenario": LEAK.id, "scenario_version": 1, "total": 15.0, "penalties": []}
    then["parts"] = [{"name": "mechanism", "points": 15.0, "max": 15, "why": "resource-leak: right"}]
    interviews.submit(ada_id, {**stored, "mechanism": "resource-leak"}, then)
    console.post("/interviewer/reveal", data={"reveal": "yes"})
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert "resource-leak: right" in page and "<strong>Mechanism:</strong> resource-leak" in page
    for fmt in ("html", "md", "json"):
        card = console.get(f"/interviewer/sessions/{ada_id}/scorecard.{fmt}")
        assert card.status_code == 200 and "resource-leak" in card.get_data(as_text=True), fmt
    for picked in ("resource-leak", None):
        rescored = score(LEAK, Submission.model_validate({**stored, "mechanism": picked}))
        assert next(p.points for p in rescored.parts if p.name == "mechanism") == 15, picked


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
    restarted = create_app(dataset, LEAK.brief, interviews=again, incident=LEAK, public_url=PUBLIC)
    assert "Ada" in interviewer(restarted, token).get("/interviewer/").get_data(as_text=True)
    survivor = restarted.test_client()
    survivor.set_cookie("o11y_candidate_8000", ada.get_cookie("o11y_candidate_8000").value)
    assert survivor.get("/").status_code == 200
    assert requests_of(again, session_id(again, "Ada")) == ["/jobs", "/"]


def test_obsim_interview_new_list_delete_on_the_servers_database(setup, capsys):
    from obsim_cli.main import main

    app, interviews, _, url, _ = setup
    assert main(["interview", "--db", url, "new", "connection-leak", "--candidate", "Grace"]) == 0
    printed = capsys.readouterr().out
    link = re.search(r"http://127\.0\.0\.1:8000(/join/[\w-]+)", printed).group(1)
    client = app.test_client()
    interviews.start(session_id(interviews, "Grace"))
    assert client.post(link).status_code == 303 and client.get("/").status_code == 200
    assert main(["interview", "--db", url, "list"]) == 0
    assert "Grace" in capsys.readouterr().out
    _, other_link = interviews.create_session("Eve", "cron-storm", 1, 900)
    assert app.test_client().get(f"/join/{other_link}").status_code == 404, "a link for another scenario"
    grace = session_id(interviews, "Grace")
    assert main(["interview", "--db", url, "delete", grace]) == 0
    assert client.get("/").status_code == 403
    assert main(["interview", "--db", url, "delete", grace]) == 2


RUBRIC = {
    "rating.systematic_approach": "2",
    "rating.tool_use": "3",
    "rating.correlating_data": "2",
    "rating.root_cause": "3",
    "rating.fix": "1",
    "check.0": "yes",
    "check.1": "yes",
    "check.2": "yes",
    "level": "strong",
    "notes": "Went straight to the pool; needed no hint.",
}


def test_the_interviewer_scores_the_rubric_and_a_bad_form_stores_nothing(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    new_candidate(app, console, "Ada")
    ada_id = session_id(interviews, "Ada")
    missing_rating = {k: v for k, v in RUBRIC.items() if k != "rating.fix"}
    for bad in (missing_rating, {**RUBRIC, "level": "genius"}, {**RUBRIC, "rating.fix": "7"}):
        response = console.post(f"/interviewer/sessions/{ada_id}/rubric", data=bad)
        assert response.status_code == 400 and "rubric was not saved" in response.get_data(as_text=True)
        assert interviews.rubric(ada_id) is None
    console.post("/interviewer/reveal", data={"reveal": "yes"})  # the checklist is ticked revealed
    assert console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC).status_code == 302
    stored = interviews.rubric(ada_id).body
    assert stored["level"] == "strong" and stored["ratings"]["tool_use"] == 3
    assert sum(stored["checklist"].values()) == 3  # the three pass statements
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert 'data-testid="rubric-level">strong<' in page and "tool use: <strong>exceptional</strong>" in page
    assert "the checklist suggests meets the bar" in page, "three pass statements support pass, not strong"
    reason = "3 of 3 pass statements ticked (all needed)"
    assert reason in page, "the suggestion is explained where it is shown"
    card = scorecard.build(interviews, LEAK, ada_id)
    assert reason in scorecard.render(card, "md") and reason in scorecard.render(card, "html")


def test_scorecards_show_both_scores_apart_with_what_makes_them_reproducible(setup):
    app, interviews, token, _, dataset = setup
    console = interviewer(app, token)
    ada, bob = new_candidate(app, console, "Ada"), new_candidate(app, console, "Bob")
    ada_id = session_id(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    ada.get("/database", query_string={"at": "2026-03-10T15:00:00Z"})
    ada.get(
        "/api/metrics/query_range", query_string={"query": "db_client_connection_count", "from": "now-1h"}
    )
    assert ada.post("/notes", data={"text": "pool at 200, all idle in transaction"}).status_code == 204
    ada.post("/submit", data={"root_cause": "Leaked transactions", "mechanism": "resource-leak"})
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": 0})
    console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC)

    console.post("/interviewer/reveal", data={"reveal": "yes"})  # a scorecard shows the answer
    card = console.get(f"/interviewer/sessions/{ada_id}/scorecard.json")
    assert card.status_code == 200 and "attachment" in card.headers["Content-Disposition"]
    card = card.json
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert card["scenario"]["version"] == LEAK.version and card["seed"] == LEAK.default_seed
    assert card["dataset"]["code_hash"] == manifest["code_hash"]
    assert card["automatic"]["source"].startswith("automatic") and card["interviewer"]["source"].startswith(
        "interviewer"
    )
    assert card["automatic"]["total"] == interviews.submissions(ada_id)[0].automatic_score["total"]
    assert card["interviewer"]["level"] == "strong"
    figures = card["figures"]
    assert figures["queries"] == 1 and figures["views_used"] == ["database", "metrics"]
    assert figures["hints_used"] == 1 and figures["time_to_submission_s"] >= 0
    kinds = [e["kind"] for e in card["timeline"]]
    assert kinds[0] == "join" and {"notes", "submission", "hint", "rubric"} <= set(kinds)
    assert any("idle in transaction" in e["description"] for e in card["timeline"])

    markdown = console.get(f"/interviewer/sessions/{ada_id}/scorecard.md").get_data(as_text=True)
    assert "## Automatic score (computed by obsim)" in markdown
    assert "## Interviewer's rubric (scored by a person)" in markdown
    assert (
        manifest["code_hash"][:12] in markdown
        and "Metrics (API): query “db_client_connection_count”" in markdown
    )
    html = console.get(f"/interviewer/sessions/{ada_id}/scorecard.html").get_data(as_text=True)
    assert "Automatic score · computed by obsim" in html and "@media print" in html

    compare = console.get("/interviewer/compare").get_data(as_text=True)
    assert compare.count('data-testid="compare-row"') == 2 and "Ada" in compare and "Bob" in compare
    for client in (ada, bob, app.test_client()):
        for path in (f"/interviewer/sessions/{ada_id}/scorecard.json", "/interviewer/compare"):
            response = client.get(path)
            assert response.status_code == 403 and "Leaked transactions" not in response.get_data(
                as_text=True
            )


def test_scorecard_and_compare_from_the_command_line(setup, capsys, tmp_path):
    from obsim_cli.main import main

    app, interviews, token, url, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    ada.post("/submit", data={"root_cause": "Leaked transactions", "mechanism": "resource-leak"})
    ada_id = session_id(interviews, "Ada")
    out = tmp_path / "ada.html"
    assert main(["interview", "--db", url, "scorecard", ada_id, "--format", "html", "-o", str(out)]) == 0
    assert "Scorecard: Ada" in out.read_text()
    capsys.readouterr()
    assert main(["interview", "--db", url, "scorecard", ada_id, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidate"] == "Ada"
    assert main(["interview", "--db", url, "compare", "connection-leak"]) == 0
    assert "| Ada |" in capsys.readouterr().out
    assert main(["interview", "--db", url, "scorecard", "nope"]) == 2


ANSWER_FILES = {
    "INTERVIEW_GUIDE.md": "Interview guide — for interviewers only",
    "scenarios/connection-leak/fix.patch": "diff --git",
    "scenarios/cron-storm/fix.patch": "MAX_PARALLEL_TENANTS",
    "scenarios/connection-leak/reference_submission.json": '"root_cause"',
    "scenarios/connection-leak/paraphrase_submission.json": '"root_cause"',
    "scenarios/connection-leak/scenario.toml": "[ground_truth]",
}


# Lines of the answer files (cron-storm's and connection-leak's fixes, the guide) that the service's
# code does not contain: a code search for them must come back empty.
ANSWER_PHRASES = ("MAX_PARALLEL_TENANTS", "except BaseException:", "for interviewers only")


def attempts(relative: str) -> list[str]:
    """Ways a curious candidate might ask for a file outside the service's code."""
    encoded = relative.replace("/", "%2F")
    return [
        f"/code/../{relative}",
        f"/code/..%2F{encoded}",
        f"/code/%2e%2e/{relative}",
        f"/code/lib/../../{relative}",
        f"/api/code/file?path=../{relative}",
        f"/api/code/file?path=..%2F{encoded}",
        f"/static/../../{relative}",
        f"/{relative}",
    ]


def test_the_answer_phrases_are_in_the_answers_and_not_in_the_service():
    """Otherwise an empty code search for them would prove nothing."""
    answers = "".join((REPO_ROOT / relative).read_text() for relative in ANSWER_FILES)
    answers += (REPO_ROOT / "scenarios/cron-storm/fix.patch").read_text()
    service = [path for path in (REPO_ROOT / "app_under_test").rglob("*") if path.is_file()]
    for phrase in ANSWER_PHRASES:
        assert phrase in answers, phrase
        assert not [path for path in service if phrase in path.read_text(errors="replace")], phrase


def test_nobody_on_the_candidate_side_reaches_the_answers(setup):
    """The guide, fix patches, reference answers and ground truth: refused, and not in any body."""
    app, _, token, _, _ = setup
    console = interviewer(app, token)
    ada = new_candidate(app, console, "Ada")
    for client, who in ((ada, "candidate"), (app.test_client(), "anonymous")):
        for relative, marker in ANSWER_FILES.items():
            assert marker in (REPO_ROOT / relative).read_text(), "the marker must be in the file"
            for path in attempts(relative):
                response = client.get(path, follow_redirects=True)
                body = response.get_data(as_text=True)
                assert response.status_code in (400, 403, 404), (who, path, response.status_code)
                assert marker not in body, (who, path)
        listing = client.get("/api/code").get_data(as_text=True)
        for name in ("INTERVIEW_GUIDE", "fix.patch", "scenario.toml", "reference_submission", "paraphrase"):
            assert name not in listing, (who, name)
        for phrase in ANSWER_PHRASES:
            found = client.get("/api/code-search", query_string={"q": phrase})
            if who == "anonymous":
                assert found.status_code == 403
            else:
                assert found.status_code == 200 and found.json["matches"] == [], phrase
            page = client.get("/code-search", query_string={"q": phrase})
            assert page.status_code == (403 if who == "anonymous" else 200)
            assert "fix.patch" not in page.get_data(as_text=True)
        for wrong in ("", "x", token[:-1], token + "x", token.upper()):
            response = client.get(f"/interviewer/login/{wrong}")
            assert response.status_code in (403, 404) and "Set-Cookie" not in response.headers, wrong


def test_one_candidate_never_sees_anothers_notes_or_submission(setup):
    app, interviews, token, _, _ = setup
    console = interviewer(app, token)
    ada, bob = new_candidate(app, console, "Ada"), new_candidate(app, console, "Bob")
    assert ada.post("/notes", data={"text": "ada-secret-note"}).status_code == 204
    ada.post("/submit", data={"root_cause": "ada-secret-cause"})
    for path in ("/submit", "/", "/logs"):
        body = bob.get(path).get_data(as_text=True)
        assert "ada-secret" not in body, path
    assert "ada-secret-note" in ada.get("/submit").get_data(as_text=True), "Ada gets her own notes back"
    too_long = ada.post("/notes", data={"text": "x" * 20_001})
    assert too_long.status_code == 413
    assert [
        e.detail["text"] for e in interviews.events(session_id(interviews, "Ada")) if e.kind == "notes"
    ] == ["ada-secret-note"]
