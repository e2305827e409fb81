"""The console read by a hiring manager (issue 19): the rubric as ratings and a level (never a
second number out of 100), the automatic score explained in plain words with one evidence count on
the page, a red flag of the guide blamed costing points, a hint release undone while the candidate
cannot have seen it, and a timeline in words, in the same order in the console and every export.

Through Flask's test client and the real store over the hand-made dataset (the console does not
depend on the data); a candidate's requests are made for real where the hand-made data can answer
them, and recorded through the store where only the scenario's window gives them their meaning.
"""

# ruff: noqa: F811  (the fixtures app, console and interviews are test_console_sharing's)

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

from markupsafe import escape
from sqlalchemy import update

from interview import scorecard
from interview.store import UNDO_HINT_S, HintRelease, now
from observability_ui.application import create_app
from tests.test_console_sharing import (  # noqa: F401
    CRON,
    LEAK,
    PUBLIC,
    REVEAL_COOKIE,
    app,
    console,
    epoch,
    interviews,
    joined,
    new_session,
    session_of,
)
from tests.test_scoring import REVIEW_SUBMISSION

RUBRIC = {
    "rating.systematic_approach": "2",
    "rating.tool_use": "3",
    "rating.correlating_data": "2",
    "rating.root_cause": "1",
    "rating.fix": "0",
    "level": "strong",
    "notes": "Went to the database sessions early.",
}


def reveal(console) -> None:
    """Every answer revealed in this browser (the home page's "Reveal every answer")."""
    console.set_cookie(REVEAL_COOKIE, "all", path="/interviewer")


def held_clock(monkeypatch) -> Callable[[float], None]:
    """The interview store's clock held still: ``at(seconds)`` sets it that long after now."""
    from interview import store as store_module

    start = now()
    moment = [start]
    monkeypatch.setattr(store_module, "now", lambda: moment[0])

    def at(seconds: float) -> None:
        moment[0] = start + timedelta(seconds=seconds)

    return at


def test_the_rubric_reads_as_ratings_and_a_level_never_a_second_number(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert ada.post("/submit", data={"root_cause": "the pool"}).status_code == 200
    assert console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC).status_code == 302

    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    result = re.search(r'data-testid="rubric-result">(.*?)</p>', page, flags=re.DOTALL).group(1)
    assert 'data-testid="rubric-level">strong<' in result
    assert "tool use: <strong>exceptional</strong>" in result and "fix: <strong>not shown</strong>" in result
    assert "root cause: <strong>meets the bar</strong>" in result
    assert page.count("/ 100") == 1  # the automatic score's, and no other
    assert '<option value="no pass" >does not meet the bar</option>' in page

    reveal(console)  # a scorecard shows the answer: exported after the reveal
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    rubric = card["interviewer"]
    assert "total" not in rubric and all("points" not in r for r in rubric["ratings"])
    assert (rubric["level"], rubric["level_name"]) == ("strong", "strong")
    assert {r["dimension"]: r["label"] for r in rubric["ratings"]}["root_cause"] == "meets the bar"
    markdown = console.get(f"/interviewer/sessions/{ada_id}/scorecard.md").get_data(as_text=True)
    assert "Level: **strong**" in markdown and "| tool use | exceptional | 25 % |" in markdown
    assert markdown.count("/ 100") == 1
    html = console.get(f"/interviewer/sessions/{ada_id}/scorecard.html").get_data(as_text=True)
    assert '<div class="big" data-testid="level">strong</div>' in html and html.count("/ 100") == 1

    compared = console.get("/interviewer/compare").get_data(as_text=True)
    row = re.search(r'data-testid="compare-row">(.*?)</tr>', compared, flags=re.DOTALL).group(1)
    assert "<td>strong</td>" in row and "/ 100" not in compared


def test_the_automatic_score_says_what_was_named_in_plain_words_with_one_evidence_count(
    app, console, interviews
):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    found = {
        "root_cause": "Connections leak",
        "locations": "lib/database/pool.py",
        "evidence_views": "database",
    }
    assert ada.post("/submit", data=found).status_code == 200
    reveal(console)
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    location = re.search(r"<td>code location</td><td[^>]*>[^<]*</td><td>([^<]*)</td>", page).group(1)
    assert location.startswith(
        str(escape("Named lib/database/pool.py — the right package (lib/database) but another file"))
    )
    assert "the fault is in transactions.py, in transaction()" in location
    assert "right layer" not in page and "transactions.py:transaction" not in page
    # one evidence count: the signals on screen; the evidence part tells what was cited in words
    assert len(re.findall(r"\d+ of the \d+ expected signals", page)) == 1 and "evidence seen" not in page
    evidence = re.search(r"<td>evidence cited</td><td[^>]*>[^<]*</td><td>([^<]*)</td>", page).group(1)
    assert evidence.startswith("Cited") and not re.search(r"\d", evidence)


def test_blaming_a_red_flag_of_the_guide_costs_points_on_the_console(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert ada.post("/submit", data={"root_cause": "The database is slow."}).status_code == 200
    flag = LEAK.ground_truth.red_flags[0]
    stored = interviews.submissions(ada_id)[0].automatic_score
    assert stored["penalties"] == [f"Blamed what the guide lists as a red flag: {flag.description}"]
    safe = console.get(f"/interviewer/sessions/{ada_id}/live/submissions").get_data(as_text=True)
    assert "penalty" not in safe and flag.description not in safe
    reveal(console)
    shown = console.get(f"/interviewer/sessions/{ada_id}/live/submissions").get_data(as_text=True)
    assert f'<td>penalty</td><td class="num">−15</td><td>{escape(stored["penalties"][0])}</td>' in shown


def hint_rows(console, session_id: str) -> list[str]:
    panel = console.get(f"/interviewer/sessions/{session_id}/live/timeline").get_data(as_text=True)
    return re.findall(r"<td class=\"wrap\">(Hint [^<]*)</td>", panel)


def test_a_hint_release_is_undone_only_before_the_candidate_can_have_seen_it(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    hint = LEAK.hints[0].text

    # released by mistake and taken back at once: the candidate never gets it
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    undo = re.search(r'data-testid="undo-hint" data-until="(\d+)"', page)
    assert undo is not None and f"for {UNDO_HINT_S:g} s" in page
    assert console.post(f"/interviewer/sessions/{ada_id}/undo-hint", data={"index": "0"}).status_code == 302
    assert interviews.released_hints(ada_id) == [] and hint not in ada.get("/submit").get_data(as_text=True)
    assert hint_rows(console, ada_id) == [
        "Hint 1 released, then withdrawn (below)",  # its text is not on a shared screen
        "Hint 1 withdrawn before the candidate saw it",
    ]
    assert "hints 0" in console.get(f"/interviewer/sessions/{ada_id}/live/figures").get_data(as_text=True)
    assert str(escape(hint)) not in console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)

    # released again and shown on the candidate's next page: it stays, and the console says why
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})
    assert hint in ada.get("/submit").get_data(as_text=True)
    assert 'data-testid="undo-hint"' not in console.get(f"/interviewer/sessions/{ada_id}").get_data(
        as_text=True
    )
    refused = console.post(f"/interviewer/sessions/{ada_id}/undo-hint", data={"index": "0"})
    assert refused.status_code == 409 and str(
        escape("the candidate's page showed it at")
    ) in refused.get_data(as_text=True)
    assert interviews.released_hints(ada_id) == [0]

    # unseen but older than the undo window: it stays too
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "1"})
    with interviews.transaction() as db:
        db.execute(
            update(HintRelease)
            .where(HintRelease.session_id == ada_id, HintRelease.hint_index == 1)
            .values(released_at=now() - timedelta(seconds=UNDO_HINT_S + 1))
        )
    late = console.post(f"/interviewer/sessions/{ada_id}/undo-hint", data={"index": "1"})
    assert late.status_code == 409 and f"undone for {UNDO_HINT_S:g} s only" in late.get_data(as_text=True)
    assert sorted(interviews.released_hints(ada_id)) == [0, 1]
    card = scorecard.build(interviews, LEAK, ada_id)
    assert [h["index"] for h in card["hints"]] == [0, 1] and card["figures"]["hints_used"] == 2
    assert console.post(f"/interviewer/sessions/{ada_id}/undo-hint", data={"index": "2"}).status_code == 409


def test_the_timeline_reads_in_words_in_the_same_order_in_the_console_and_every_export(
    app, console, interviews
):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    window = [epoch(14, 0), epoch(15, 45)]
    query = 'sum(db_client_connection_count{db_client_connection_state="used"})'
    interviews.record(  # the pool's climb over the incident's window: the scenario's evidence
        ada_id,
        "view",
        {"path": "/metrics", "args": {"query": query}, "range": window, "status": 200, "bytes": 52_113},
    )
    decoy_file = LEAK.ground_truth.decoys[0].files[0]
    assert ada.get(f"/code/{decoy_file}").status_code == 200  # a decoy's code, opened for real
    for typed in ("pool full", "pool full at 14:40", "pool full at 14:40, db idle"):  # autosaves
        assert ada.post("/notes", data={"text": typed}).status_code == 204
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})
    assert (
        ada.post("/notes", data={"text": "pool full at 14:40, db idle; who holds them?"}).status_code == 204
    )
    assert ada.post("/submit", data={"root_cause": "connections leak"}).status_code == 200

    reveal(console)
    panel = console.get(f"/interviewer/sessions/{ada_id}/live/timeline").get_data(as_text=True)
    rows = re.findall(
        r'<tr data-testid="event" data-kind="([^"]+)"><td class="num mono">([^<]+)</td>\s*'
        r'<td class="wrap">([^<]*)</td>\s*<td>(?:<strong[^>]*>(\w+)</strong>)?</td>',
        panel,
    )
    kinds = [kind for kind, *_ in rows]
    assert kinds == ["join", "start", "view", "view", "notes", "hint", "notes", "submission"]
    by_kind = {kind: (since, text, mark) for kind, since, text, mark in rows}
    assert by_kind["join"][0] == "before start" and by_kind["start"][:2] == (
        "0:00",
        "Interviewer started the clock",
    )
    metrics, code = [row for row in rows if row[0] == "view"][:2]
    assert (
        metrics[2] == str(escape(f"Metrics: query “{query}”, 14:00–15:45 UTC")) and metrics[3] == "relevant"
    )
    assert code[2] == f"Code: opened {decoy_file}" and code[3] == "decoy"
    notes = [text for kind, _, text, _ in rows if kind == "notes"]  # three autosaves, one row; then more
    assert notes == ["Notes: pool full at 14:40, db idle", "Notes, added: ; who holds them?"]
    assert by_kind["hint"][1] == str(escape(f"Hint 1 released: {LEAK.hints[0].text}"))
    assert " B" not in panel and "→" not in panel and "/code/" not in panel
    assert all(re.fullmatch(r"\d+:\d\d", since) for kind, since, *_ in rows if kind != "join")

    # safe to share: the same rows, without saying which were relevant or a decoy
    console.delete_cookie(REVEAL_COOKIE, path="/interviewer")
    safe = console.get(f"/interviewer/sessions/{ada_id}/live/timeline").get_data(as_text=True)
    assert 'data-testid="mark"' not in safe and safe.count('data-testid="event"') == len(rows)

    reveal(console)
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    described = [str(escape(row["description"])) for row in card["timeline"]]
    assert described == [text for _, _, text, _ in rows]
    assert [row["mark"] for row in card["timeline"]] == [mark or None for *_, mark in rows]
    for fmt in ("md", "html"):
        export = console.get(f"/interviewer/sessions/{ada_id}/scorecard.{fmt}").get_data(as_text=True)
        timeline = export.split("Timeline", 1)[1]
        places = [
            timeline.find(str(escape(row["description"])) if fmt == "html" else row["description"])
            for row in card["timeline"]
        ]
        assert -1 not in places and places == sorted(places), fmt


def test_the_timeline_counts_clock_time_and_marks_the_pause(app, console, interviews, monkeypatch):
    """A row's minutes are the interview clock's (the hint's "released at" and the time limit use
    it too): a pause does not push what follows it later, and the pause is said, with its length."""
    from interview import store as store_module

    moment = [now()]
    monkeypatch.setattr(store_module, "now", lambda: moment[0])

    def at(seconds: float) -> None:
        moment[0] = start + timedelta(seconds=seconds)

    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    start = moment[0]
    console.post(f"/interviewer/sessions/{ada_id}/start")
    at(60)
    assert ada.get("/metrics").status_code == 200
    at(100)
    console.post(f"/interviewer/sessions/{ada_id}/pause")
    at(200)
    console.post(f"/interviewer/sessions/{ada_id}/extend", data={"minutes": "5"})
    at(400)
    console.post(f"/interviewer/sessions/{ada_id}/start")
    at(460)
    assert ada.get("/logs").status_code == 200
    assert ada.post("/submit", data={"root_cause": "the pool"}).status_code == 200

    panel = console.get(f"/interviewer/sessions/{ada_id}/live/timeline").get_data(as_text=True)
    rows = re.findall(
        r'<tr data-testid="event" data-kind="([^"]+)"><td class="num mono">([^<]+)</td>\s*'
        r'<td class="wrap">([^<]*)</td>',
        panel,
    )
    since = [(kind, when) for kind, when, _ in rows if kind != "join"]
    assert since == [
        ("start", "0:00"),
        ("view", "1:00"),
        ("clock", "1:40"),
        ("clock", "1:40"),
        ("clock", "1:40"),
        ("view", "2:40"),
        ("submission", "2:40"),
    ]
    told = [text for kind, _, text in rows if kind == "clock"]
    assert told[1].endswith("(while the clock was paused)")
    assert told[2] == "Interviewer resumed the clock after a pause of 5:00 (not counted above)"
    figures = console.get(f"/interviewer/sessions/{ada_id}/live/figures").get_data(as_text=True)
    assert "2:40" in figures and "7:40" not in figures  # time to submission on the clock


def test_a_resubmitted_answer_is_listed_once_and_actions_are_the_candidates(app, console, interviews):
    """The same answer sent twice in a row reads as one, marked resubmitted; the home page counts
    what the candidate did, not the interviewer's hints and rubric saves."""
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert ada.get("/metrics").status_code == 200
    for answer in ("the pool leaks", "the pool leaks", "a leaked transaction holds the pool"):
        assert ada.post("/submit", data={"root_cause": answer}).status_code == 200
    panel = console.get(f"/interviewer/sessions/{ada_id}/live/submissions").get_data(as_text=True)
    assert panel.count('data-testid="submission"') == 2 and panel.count('data-testid="resubmitted"') == 1
    assert panel.count("the pool leaks") == 1

    def actions() -> int:
        home = console.get("/interviewer/").get_data(as_text=True)
        return int(re.search(r'data-testid="actions">(\d+)<', home).group(1))

    before = actions()
    assert before == sum(1 for e in interviews.events(ada_id) if e.kind not in ("clock", "hint", "rubric"))
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})
    console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC)
    assert interviews.rubric(ada_id) is not None and actions() == before


def test_the_reviewed_cron_storm_answer_costs_no_decoy_on_the_console(handmade_dataset, interviews):
    """The 2026-12-07 review's submission, sent through the candidate's form on a cron-storm server:
    it names the job generate_usage_reports, never the /reports/summary endpoint, so no decoy is
    charged (it was: "report" matched inside the job's name)."""
    app = create_app(handmade_dataset, CRON.brief, interviews=interviews, incident=CRON, public_url=PUBLIC)
    console = app.test_client()
    assert console.get(f"/interviewer/login/{interviews.interviewer_token(reset=True)}").status_code == 302
    candidate = joined(app, new_session(console, "Alex"))
    alex_id = session_of(interviews, "Alex")
    console.post(f"/interviewer/sessions/{alex_id}/start")
    sent = json.loads(REVIEW_SUBMISSION.read_text())
    form = {key: value for key, value in sent.items() if key not in ("locations", "causal_chain", "evidence")}
    form["locations"] = "\n".join(
        f"{loc['file']}:{loc['lines'][0]}-{loc['lines'][1]}" for loc in sent["locations"]
    )
    form["causal_chain"] = "\n".join(sent["causal_chain"])
    form["evidence_views"] = [item["view"] for item in sent["evidence"]]
    assert candidate.post("/submit", data=form).status_code == 200
    assert interviews.submissions(alex_id)[0].automatic_score["penalties"] == []
    console.set_cookie(REVEAL_COOKIE, "all", path="/interviewer")
    panel = console.get(f"/interviewer/sessions/{alex_id}/live/submissions").get_data(as_text=True)
    assert "score-parts" in panel and "penalty" not in panel


def test_an_ended_interview_keeps_its_time_and_closes_for_the_candidate(
    app, console, interviews, monkeypatch
):
    """ "End interview" stops the clock for good: the time used, the scorecard's figure and the
    timeline stay where the candidate finished while the interviewer scores, exports and saves the
    rubric later; the candidate is told the interview is over; Reopen gives the rest back."""
    at = held_clock(monkeypatch)
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    at(100)
    console.post(f"/interviewer/sessions/{ada_id}/pause")
    at(130)  # the pause's 30 s never count
    assert ada.post("/submit", data={"root_cause": "the pool"}).status_code == 403  # paused
    console.post(f"/interviewer/sessions/{ada_id}/start")
    at(160)
    assert ada.post("/submit", data={"root_cause": "the pool"}).status_code == 200
    at(170)
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert 'data-testid="clock-end"' in page and "end the interview when it is over" in page
    assert console.post(f"/interviewer/sessions/{ada_id}/end").status_code == 302

    at(3600)  # an hour later: scored, exported, the rubric saved
    assert console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC).status_code == 302
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert "2:20 used of" in page and "<strong>ended</strong>" in page
    assert 'data-testid="clock-end"' not in page and 'data-testid="clock-reopen">Reopen</button>' in page
    assert re.search(
        r"</a></td>\s*<td>[^<]*</td>\s*<td>ended</td>", console.get("/interviewer/").get_data(as_text=True)
    )
    reveal(console)
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    assert card["clock"]["elapsed_s"] == 140.0 and card["clock"]["ended_at"] is not None
    told = {row["description"]: row for row in card["timeline"]}
    assert told["Interviewer ended the interview"]["since_start_s"] == 140.0
    assert told["Interviewer saved the rubric: strong (after the interview ended)"]["since_start_s"] == 140.0

    refused = ada.get("/api/interview")
    assert refused.status_code == 403 and refused.get_json()["reason"] == "over"
    assert "ended the interview" in refused.get_json()["error"]
    assert ada.post("/submit", data={"root_cause": "later"}).status_code == 403

    console.post(f"/interviewer/sessions/{ada_id}/start")  # a stale Resume button: stays ended
    assert ada.get("/api/interview").status_code == 403
    console.post(f"/interviewer/sessions/{ada_id}/reopen")  # the hour it stood ended is not counted
    at(3660)
    assert ada.get("/api/interview").status_code == 200
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    assert card["clock"]["elapsed_s"] == 200.0 and card["clock"]["ended_at"] is None
    reopened = [row for row in card["timeline"] if row["description"].startswith("Interviewer reopened")]
    assert (
        reopened[0]["description"]
        == "Interviewer reopened the interview after standing ended for 57:10 (not counted above)"
    )


def test_a_refused_request_says_on_the_timeline_what_the_candidate_was_told(app, console, interviews):
    """A query the platform refused reads as its view, what was asked, and the refusal's message,
    the same for a page and the JSON API; an unknown page names its path."""
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert ada.get("/api/metrics/query_range", query_string={"query": "rate(foo[5m]"}).status_code == 400
    assert ada.get("/api/traces", query_string={"bogus": "1"}).status_code == 400
    assert ada.get("/no-such-page").status_code == 404
    reveal(console)
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    refused = [row["description"] for row in card["timeline"] if "refused" in row["description"]]
    assert len(refused) == 3, refused
    query, unknown_parameter, missing = refused
    assert query.startswith("Metrics (API): query “rate(foo[5m]”") and "— refused (400: " in query
    assert "bogus" in unknown_parameter and "— refused (400: " in unknown_parameter
    assert missing.startswith("Page /no-such-page") and "— refused (404: " in missing


def test_an_end_during_a_pause_reads_as_a_pause_then_an_end(app, console, interviews, monkeypatch):
    """Paused at 1:40, ended 50 s later, reopened an hour after: the rubric saved during the pause
    reads as during the pause, the reopen counts the time since the end; an interview its time
    closed ends at the moment it closed, not when the interviewer pressed End."""
    at = held_clock(monkeypatch)
    joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    at(100)
    console.post(f"/interviewer/sessions/{ada_id}/pause")
    at(120)
    console.post(f"/interviewer/sessions/{ada_id}/rubric", data=RUBRIC)
    at(150)
    console.post(f"/interviewer/sessions/{ada_id}/end")
    at(3750)
    console.post(f"/interviewer/sessions/{ada_id}/reopen")
    reveal(console)
    card = json.loads(console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").get_data(as_text=True))
    told = [row["description"] for row in card["timeline"] if row["kind"] in ("clock", "rubric")]
    assert told == [
        "Interviewer paused the clock",
        "Interviewer saved the rubric: strong (while the clock was paused)",
        "Interviewer ended the interview",
        "Interviewer reopened the interview after standing ended for 60:00 (not counted above)",
    ]
    assert card["clock"]["elapsed_s"] == 100.0

    limit = interviews.get(ada_id).limit_s() + interviews.get(ada_id).grace_s
    at(3750 + limit + 600)  # closed by its time ten minutes ago
    console.post(f"/interviewer/sessions/{ada_id}/end")
    assert interviews.get(ada_id).elapsed_s() == limit


def test_hostile_text_a_candidate_sends_stays_text_in_every_export(app, console, interviews):
    """A query and a root cause carrying markup: the console and the printable scorecard escape it,
    the Markdown scorecard neither renders a tag nor loads an image from elsewhere."""
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    hostile = "<script>alert(1)</script> ![x](https://evil.example/p.gif)"
    assert ada.get("/api/metrics/query_range", query_string={"query": f"rate({hostile}"}).status_code == 400
    assert ada.post("/submit", data={"root_cause": hostile}).status_code == 200
    reveal(console)
    for path in (f"/interviewer/sessions/{ada_id}", f"/interviewer/sessions/{ada_id}/scorecard.html"):
        html = console.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html, path
    markdown = console.get(f"/interviewer/sessions/{ada_id}/scorecard.md").get_data(as_text=True)
    assert "<script>" not in markdown and "](https://evil.example" not in markdown
    assert "]\\(https://evil.example/p.gif)" in markdown
