"""The interviewer console shared on screen (issue 19): nothing that gives the answer away before
the interviewer reveals it, no second session from a reload, hints flagged when given early or after
the submission, live panels, scorecard exports that keep their tables and lists.

Over the hand-made dataset and a real scenario (the console does not depend on the data), through
Flask's test client and the real store.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from werkzeug.serving import make_server

from interview import scorecard
from interview.scoring.rubric import checklist
from interview.store import UNDO_HINT_S, InterviewStore
from observability_ui.application import create_app
from observability_ui.candidate_session import Served
from obsim import scenario as scenarios
from obsim.scenario import Scenario
from tests import browser

LEAK = scenarios.load("connection-leak")
CRON = scenarios.load("cron-storm")
PUBLIC = "http://interviews.test:8123"
REVEAL_COOKIE = "o11y_console_reveal_8123"


@pytest.fixture
def interviews(tmp_path) -> InterviewStore:
    return InterviewStore(f"sqlite:///{tmp_path / 'interviews.sqlite'}")


@pytest.fixture
def app(handmade_dataset, interviews) -> Flask:
    return create_app(handmade_dataset, LEAK.brief, interviews=interviews, incident=LEAK, public_url=PUBLIC)


@pytest.fixture
def console(app, interviews) -> FlaskClient:
    client = app.test_client()
    assert client.get(f"/interviewer/login/{interviews.interviewer_token(reset=True)}").status_code == 302
    return client


def new_session(console: FlaskClient, name: str) -> str:
    """The candidate link shown once on the page the "New session" POST redirects to."""
    created = console.post("/interviewer/sessions", data={"candidate": name})
    assert created.status_code == 303
    page = console.get(created.headers["Location"]).get_data(as_text=True)
    return re.search(r"<code class=\"mono\">([^<]+)</code>", page).group(1)


def joined(app: Flask, link: str) -> FlaskClient:
    client = app.test_client()
    assert (
        client.post(link.removeprefix(PUBLIC), headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    )
    return client


def session_of(interviews: InterviewStore, name: str) -> str:
    return next(s.id for s in interviews.sessions() if s.candidate == name)


def epoch(hour: int, minute: int) -> float:
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC).timestamp()


def answer_phrases(incident: Scenario = LEAK) -> list[str]:
    """Everything on the session page that gives the answer away, as the page escapes it."""
    truth = incident.ground_truth
    phrases = [truth.summary.strip().splitlines()[0], incident.id]
    phrases += [m.text for m in truth.mechanisms]
    phrases += [c.description for c in truth.root_causes]
    phrases += [e.signal for e in truth.evidence] + [e.description for e in truth.evidence]
    phrases += [d.description for d in truth.decoys]
    phrases += list(checklist(incident))
    phrases += [hint.text for hint in incident.hints[1:]]  # hint 1 is released below: the candidate has it
    return [str(escape(phrase)) for phrase in phrases]


def test_the_session_page_is_safe_to_share_until_the_answer_is_revealed(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    # the overview over the leak's window: the expected first signal, on screen
    detail = {"path": "/", "args": {}, "range": [epoch(14, 0), epoch(15, 45)], "status": 200, "bytes": 1}
    interviews.record(ada_id, "view", detail, sim_time=epoch(15, 45))
    assert ada.post("/submit", data={"root_cause": "something with the database"}).status_code == 200
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})

    pages = {
        "session": f"/interviewer/sessions/{ada_id}",
        "sessions": "/interviewer/",
        "compare": "/interviewer/compare",
        **{panel: f"/interviewer/sessions/{ada_id}/live/{panel}" for panel in ("figures", "submissions")},
    }
    safe = {name: console.get(path).get_data(as_text=True) for name, path in pages.items()}
    assert "Reveal the answer" in safe["session"] and LEAK.hints[0].text in safe["session"]
    for name, html in safe.items():
        shown = [phrase for phrase in answer_phrases() if phrase in html]
        assert shown == [], name
    # the next hint is readable on demand, only when asked for
    assert console.get(f"/interviewer/sessions/{ada_id}/hints/1").text == LEAK.hints[1].text
    assert f"/interviewer/sessions/{ada_id}/hints/1" in safe["session"]
    assert 'name="check.' not in safe["session"]  # nothing ticked yet, so nothing carried hidden

    revealed = console.post("/interviewer/reveal", data={"reveal": "yes", "session": ada_id})
    assert revealed.status_code == 303 and revealed.headers["Location"] == pages["session"]
    assert (
        "HttpOnly" in revealed.headers["Set-Cookie"] and "SameSite=Strict" in revealed.headers["Set-Cookie"]
    )
    page = console.get(pages["session"]).get_data(as_text=True)
    missing = [phrase for phrase in answer_phrases() if phrase != str(escape(LEAK.id)) and phrase not in page]
    assert missing == [] and "do not share this screen" in page
    assert LEAK.id not in console.get("/interviewer/").get_data(as_text=True)  # one session's reveal

    console.post("/interviewer/reveal", data={"reveal": "no", "session": ada_id})
    assert console.get_cookie(REVEAL_COOKIE, path="/interviewer") is None
    again = console.get(pages["session"]).get_data(as_text=True)
    assert str(escape(LEAK.ground_truth.mechanisms[0].text)) not in again


def test_a_second_scenarios_session_is_safe_to_share_on_a_server_running_two(handmade_dataset, interviews):
    """On a server running two scenarios, a session of the second one hides its own answer, and
    no page names either scenario by its id: the picker and the links use stand-ins."""
    app = create_app(
        handmade_dataset,
        LEAK.brief,
        interviews=interviews,
        incident=LEAK,
        public_url=PUBLIC,
        more_incidents=[Served(CRON, handmade_dataset)],
    )
    console = app.test_client()
    assert console.get(f"/interviewer/login/{interviews.interviewer_token(reset=True)}").status_code == 302
    home = console.get("/interviewer/").get_data(as_text=True)
    options = dict(
        (title, value) for value, title in re.findall(r'<option value="([^"]+)">([^<(]+) \(', home)
    )
    cron_ref = options[str(escape(CRON.title))]
    assert cron_ref not in (CRON.id, LEAK.id) and len(options) == 2
    created = console.post("/interviewer/sessions", data={"candidate": "Bea", "scenario": cron_ref})
    assert created.status_code == 303
    first = console.get(created.headers["Location"]).get_data(as_text=True)
    link = re.search(r"<code class=\"mono\">([^<]+)</code>", first).group(1)
    bea = joined(app, link)
    bea_id = session_of(interviews, "Bea")
    assert interviews.get(bea_id).scenario_id == CRON.id
    console.post(f"/interviewer/sessions/{bea_id}/start")
    assert bea.post("/submit", data={"root_cause": "something at the top of the hour"}).status_code == 200
    console.post(f"/interviewer/sessions/{bea_id}/hint", data={"index": "0"})

    pages = {
        "session": f"/interviewer/sessions/{bea_id}",
        "sessions": "/interviewer/",
        "compare": f"/interviewer/compare?scenario={cron_ref}",
        **{panel: f"/interviewer/sessions/{bea_id}/live/{panel}" for panel in ("figures", "submissions")},
    }
    safe = {name: console.get(path) for name, path in pages.items()}
    assert all(response.status_code == 200 for response in safe.values())
    html = {name: response.get_data(as_text=True) for name, response in safe.items()}
    assert CRON.hints[0].text in html["session"] and "Bea" in html["compare"]
    for name, text in html.items():
        shown = [phrase for phrase in [*answer_phrases(CRON), LEAK.id] if phrase in text]
        assert shown == [], name
    assert console.get(f"/interviewer/sessions/{bea_id}/hints/1").text == CRON.hints[1].text

    console.post("/interviewer/reveal", data={"reveal": "yes", "session": bea_id})
    page = console.get(pages["session"]).get_data(as_text=True)
    missing = [phrase for phrase in answer_phrases(CRON) if phrase not in page]
    assert missing == [] and str(escape(LEAK.ground_truth.mechanisms[0].text)) not in page
    home = console.get("/interviewer/").get_data(as_text=True)
    assert CRON.id not in home  # Bea's answer is revealed on her pages only
    console.post("/interviewer/reveal", data={"reveal": "yes"})  # "Reveal every answer"
    home = console.get("/interviewer/").get_data(as_text=True)
    assert f'data-scenario="{CRON.id}"' in home and f'value="{CRON.id}"' in home
    # a compare link copied while safe to share still works after the reveal, and the other way round
    assert "Bea" in console.get(pages["compare"]).get_data(as_text=True)
    console.post("/interviewer/reveal", data={"reveal": "no"})
    assert "Bea" in console.get(f"/interviewer/compare?scenario={CRON.id}").get_data(as_text=True)


def test_scorecards_and_the_score_breakdown_wait_for_the_reveal(app, console, interviews):
    """A scorecard shows the answer (ground truth, decoys, checklist, the scenario in its title):
    while the console is safe to share it is neither linked nor served, and the submission shows
    its total without the part-by-part reasons or the penalty's wording."""
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    blaming = "The payment gateway is slow and that stalls the API."
    assert ada.post("/submit", data={"root_cause": blaming}).status_code == 200
    assert interviews.submissions(ada_id)[0].automatic_score["penalties"]

    pages = [
        f"/interviewer/sessions/{ada_id}",
        "/interviewer/compare",
        f"/interviewer/sessions/{ada_id}/live/submissions",
    ]
    for path in pages:
        html = console.get(path).get_data(as_text=True)
        assert "scorecard." not in html and "penalty" not in html and "score-parts" not in html, path
    for fmt in ("html", "md", "json"):
        refused = console.get(f"/interviewer/sessions/{ada_id}/scorecard.{fmt}")
        assert refused.status_code == 403 and "reveal" in refused.get_data(as_text=True)
        assert str(escape(LEAK.ground_truth.decoys[0].description)) not in refused.get_data(as_text=True)

    console.post("/interviewer/reveal", data={"reveal": "yes", "session": ada_id})
    page = console.get(pages[0]).get_data(as_text=True)
    assert "score-parts" in page and "penalty" in page and "scorecard.html" in page
    assert "scorecard.md" in console.get(pages[1]).get_data(as_text=True)
    card = console.get(f"/interviewer/sessions/{ada_id}/scorecard.html")
    assert card.status_code == 200 and LEAK.id in card.get_data(as_text=True)
    # a tab's title shows in the tab strip even when another page is on screen: no scenario id there
    title = re.search(r"<title>(.*?)</title>", card.get_data(as_text=True)).group(1)
    assert LEAK.id not in title and "Ada" in title


def test_a_new_candidate_link_replaces_the_old_one_and_is_shown_once(app, console, interviews):
    """The link is shown once at creation; "New candidate link" on the session page makes another
    (POST, redirect, shown once), and the old one is refused saying it was replaced."""
    old_link = new_session(console, "Ada")
    ada = joined(app, old_link)
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    page = f"/interviewer/sessions/{ada_id}"
    assert 'data-testid="new-link"' not in console.get(page).get_data(as_text=True)
    api_token = interviews.api_token_for(ada_id, old_link.rsplit("/join/", 1)[1])  # derived from the link
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert (
        app.test_client().get("/api/v1/query", query_string={"query": "1"}, headers=bearer).status_code == 200
    )

    made = console.post(f"/interviewer/sessions/{ada_id}/new-link")
    assert made.status_code == 303 and made.headers["Location"] == page
    shown = console.get(page).get_data(as_text=True)
    link = re.search(r'data-testid="new-link">.*?<code class="mono">([^<]+)</code>', shown, re.DOTALL).group(
        1
    )
    assert link != old_link and link.startswith(PUBLIC)
    assert 'data-testid="new-link"' not in console.get(page).get_data(as_text=True)  # once

    for refused in (ada.get("/"), app.test_client().get(old_link.removeprefix(PUBLIC))):
        assert refused.status_code == 403 and "replaced" in refused.get_data(as_text=True)
    assert "replaced" in ada.get("/api/metrics/query").get_json()["error"]
    # the old link's API token went with it
    assert (
        app.test_client().get("/api/v1/query", query_string={"query": "1"}, headers=bearer).status_code == 403
    )
    again = joined(app, link)
    assert again.get("/").status_code == 200
    assert interviews.get(ada_id).candidate == "Ada" and len(interviews.sessions()) == 1


def test_clock_buttons_offer_only_what_the_clock_can_do(app, console, interviews):
    """Start while not running, Pause while running, End once started, only Reopen once ended; "Add time"
    says it adds to the limit."""
    new_session(console, "Ada")
    ada_id = session_of(interviews, "Ada")
    page = f"/interviewer/sessions/{ada_id}"

    def buttons() -> set[str]:
        return set(re.findall(r'data-testid="clock-(\w+)"', console.get(page).get_data(as_text=True)))

    assert buttons() == {"start", "extend"}
    console.post(f"{page}/start")
    assert buttons() == {"pause", "end", "extend"}
    console.post(f"{page}/pause")
    html = console.get(page).get_data(as_text=True)
    assert buttons() == {"start", "end", "extend"} and ">Resume<" in html
    assert "min to the limit" in html and ">Add time<" in html and "Pause by" not in html
    console.post(f"{page}/end")
    assert buttons() == {"reopen", "extend"}


def test_a_ticked_checklist_survives_a_rubric_saved_in_safe_mode(console, app, interviews):
    joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    ratings = {f"rating.{name}": "2" for name in ("systematic_approach", "tool_use", "correlating_data")}
    rubric = {**ratings, "rating.root_cause": "2", "rating.fix": "1", "level": "pass", "notes": ""}
    console.set_cookie(REVEAL_COOKIE, "all", path="/interviewer")
    assert (
        console.post(f"/interviewer/sessions/{ada_id}/rubric", data={**rubric, "check.1": "yes"}).status_code
        == 302
    )
    console.delete_cookie(REVEAL_COOKIE, path="/interviewer")
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert 'data-testid="checklist-hidden"' in page and "check.0" not in page and "check.1" not in page
    # the safe form carries no checklist; a stale or hand-made one that does is not read either
    for form in (rubric, {**rubric, "check.0": "yes"}):
        saved = console.post(f"/interviewer/sessions/{ada_id}/rubric", data={**form, "level": "strong"})
        assert saved.headers["Location"].endswith("#rubric-saved")
        answers = interviews.rubric(ada_id).body["checklist"]
        assert answers == {**dict.fromkeys(checklist(LEAK), False), list(checklist(LEAK))[1]: True}
        assert interviews.rubric(ada_id).body["level"] == "strong"


def test_new_session_redirects_and_shows_its_link_once(app, console, interviews):
    created = console.post("/interviewer/sessions", data={"candidate": "Ada"})
    assert created.status_code == 303 and created.headers["Location"] == "/interviewer/"
    assert "/join/" not in created.headers["Location"] and "/join/" not in created.get_data(as_text=True)
    first = console.get("/interviewer/").get_data(as_text=True)
    link = re.search(r"<code class=\"mono\">([^<]+)</code>", first).group(1)
    assert link.startswith(f"{PUBLIC}/join/") and 'data-testid="new-link"' in first
    # a reload shows the list without the link and makes no second session
    reloaded = console.get("/interviewer/").get_data(as_text=True)
    assert 'data-testid="new-link"' not in reloaded and link not in reloaded
    assert [s.candidate for s in interviews.sessions()] == ["Ada"]
    joined(app, link)  # the link shown once works

    # the one-time value is signed with the interviewer's secret: a forged one shows nothing
    console.set_cookie("o11y_console_new_link_8123", "forged.value", path="/interviewer")
    assert 'data-testid="new-link"' not in console.get("/interviewer/").get_data(as_text=True)


def test_a_hint_given_early_or_after_the_submission_is_flagged(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert page.count('data-confirm="Release hint') == len(LEAK.hints)
    # the confirmation says what Undo allows, and nothing that a clock running on would make stale
    confirm = re.search(r'data-confirm="(Release hint 1 [^"]*)"', page).group(1)
    assert f"suggested at {LEAK.hints[0].after_minutes:g} min" in confirm
    assert f"Undo takes it back for {UNDO_HINT_S:g} s" in confirm and "at once" not in confirm

    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "1"})  # early, and skips hint 1
    assert ada.post("/submit", data={"root_cause": "the pool"}).status_code == 200
    console.post(f"/interviewer/sessions/{ada_id}/hint", data={"index": "0"})
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    flags = re.findall(r'data-testid="hint-flag">([^<]+)<', page)
    early, out_of_order, late = (
        "before its suggested minute",
        "before an earlier hint",
        "after the submission",
    )
    assert sorted(flags) == sorted([early, out_of_order, early, late])
    assert "released at 0:0" in page and "The candidate submitted at" in page

    card = scorecard.build(interviews, LEAK, ada_id)
    by_index = {hint["index"]: hint for hint in card["hints"]}
    assert (
        by_index[1]["flags"][0].startswith("released at 0:0")
        and "released before an earlier hint" in by_index[1]["flags"]
    )
    assert by_index[0]["flags"][-1] == "released after the submission"
    markdown = scorecard.render(card, "md")
    assert (
        "**released after the submission**" in markdown and "**released before an earlier hint**" in markdown
    )


def test_the_clock_figures_and_submissions_are_live_panels(app, console, interviews):
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    page = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    for panel in ("clock", "figures", "submissions", "timeline"):
        assert f'data-live="/interviewer/sessions/{ada_id}/live/{panel}"' in page
    assert "Not started" in console.get(f"/interviewer/sessions/{ada_id}/live/clock").text
    console.post(f"/interviewer/sessions/{ada_id}/start")
    ada.post("/submit", data={"root_cause": "the pool"})
    assert "used of" in console.get(f"/interviewer/sessions/{ada_id}/live/clock").text
    assert "submitted after 0:0" in console.get(f"/interviewer/sessions/{ada_id}/live/figures").text
    assert "the pool" in console.get(f"/interviewer/sessions/{ada_id}/live/submissions").text
    assert console.get(f"/interviewer/sessions/{ada_id}/live/rubric").status_code == 404


def test_the_session_page_shows_every_field_of_the_submission_while_safe_to_share(app, console, interviews):
    """An interviewer checks a part's points against what was written without revealing the answer:
    every field the candidate filled in is on the session page, the answer key is not; while safe to
    share, the candidate's answer is closed (a correct answer is the answer, on a shared screen)."""
    ada = joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    form = {
        "root_cause": "the pool",
        "locations": "lib/database/transactions.py:59-76",
        "starts_at": "2026-03-10T14:20:00Z",
        "repeats": "none",
        "causal_chain": "validation hangs\nthe session is never closed",
        "mitigation": "restart the workers",
        "fix": "close the session in a finally block",
        "prevention": "alert on idle in transaction",
    }
    assert ada.post("/submit", data=form).status_code in (200, 303)
    panel = console.get(f"/interviewer/sessions/{ada_id}/live/submissions").get_data(as_text=True)
    assert 'data-testid="submission-rest"' in panel
    assert re.search(
        r'<details data-testid="submission-answer">(?:(?!</details>).)*<pre class="wrap">the pool',
        panel,
        re.S,
    )
    for shown in (
        "lib/database/transactions.py:59-76",
        "2026-03-10T14:20:00",
        "<li>validation hangs</li>",
        "restart the workers",
        "close the session in a finally block",
        "alert on idle in transaction",
    ):
        assert shown in panel, shown
    assert (
        'data-testid="score-parts"' not in panel and LEAK.ground_truth.root_causes[0].description not in panel
    )


def test_the_markdown_scorecard_keeps_its_tables_and_lists_whatever_was_typed(interviews):
    ada_id, _ = interviews.create_session("Ada", LEAK.id, LEAK.default_seed, 900)
    interviews.start(ada_id)
    query = "sum by (a|b) (x) || y\n- not a list"
    interviews.record(
        ada_id, "api", {"path": "/api/logs", "args": {"query": query}, "status": 200, "bytes": 3}
    )
    body = {
        "root_cause": "the pool | the <b>cache</b>\n- second line",
        "causal_chain": ["one\n- two", "three", "pool full -> 503 & AT&amp;T"],
    }
    body["evidence"] = [{"view": "logs", "query": "a\n- b", "link": "", "note": ""}]
    body["evidence"] += [{"view": view, "query": "", "link": "", "note": ""} for view in ("metrics", "jobs")]
    why = {"name": "location", "points": 1.0, "max": 25, "why": "cites a | b\nover two lines"}
    interviews.submit(ada_id, body, {"total": 1.0, "parts": [why], "penalties": []})
    markdown = scorecard.render(scorecard.build(interviews, LEAK, ada_id), "md")
    lines = markdown.splitlines()
    rows = [line for line in lines if line.startswith("|")]
    header = None
    for line in lines:  # every row of a table has as many cell borders as the table's header
        if not line.startswith("|"):
            header = None
            continue
        borders = len(re.findall(r"(?<!\\)\|", line))
        header = header or borders
        assert borders == header, line
    assert "| code location | 1.0 / 25 | cites a \\| b<br>over two lines |" in lines
    assert any("sum by (a\\|b) (x) \\|\\| y<br>- not a list" in row for row in rows)
    assert "**Root cause:** the pool | the &lt;b>cache&lt;/b><br>- second line" in lines
    chain = ["1. one<br>- two", "1. three", "1. pool full -> 503 & AT&amp;amp;T"]
    assert [line for line in lines if line.startswith("1. ")] == chain
    evidence = lines[lines.index("**Evidence cited:**") + 1 :][:4]
    assert evidence == ["- logs: `a - b`", "- metrics", "- jobs", ""]  # one item a line, then a break
    # the header: "seed N · code …" on one line, then a blank line before the session's line
    seed = next(i for i, line in enumerate(lines) if f"seed {LEAK.default_seed} · " in line)
    assert lines[seed + 1] == "" and lines[seed + 2].startswith("Session `")
    assert not any(line.startswith("- second") or line.startswith("- two") for line in lines)


def test_console_errors_are_the_consoles_own_page_with_a_way_back(app, console, interviews):
    missing = console.get("/interviewer/sessions/0123456789abcdef")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and 'data-testid="console-error"' in page
    assert "No such interview session." in page and 'href="/interviewer/"' in page
    assert "Start this page afresh" not in page and "Back to the session" not in page
    joined(app, new_session(console, "Ada"))
    ada_id = session_of(interviews, "Ada")
    refused = console.post(f"/interviewer/sessions/{ada_id}/rubric", data={"level": "pass"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "The rubric was not saved" in page
    assert f'href="/interviewer/sessions/{ada_id}">Back to the session</a>' in page
    assert refused.headers["Cache-Control"] == "no-store"


@pytest.fixture
def served(handmade_dataset, interviews) -> Iterator[str]:
    """The platform over the hand-made dataset on a free local port, in this process."""
    port = browser.free_port()
    base = f"http://127.0.0.1:{port}"
    platform = create_app(handmade_dataset, LEAK.brief, interviews=interviews, incident=LEAK, public_url=base)
    server = make_server("127.0.0.1", port, platform, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join()


def test_in_a_browser_a_rubric_draft_survives_a_reload_and_a_refused_save(served, interviews):
    """Also in the browser: a hint release undone, and its Undo button gone once its time is up."""
    browser.require_chromium()
    with browser.launch() as chromium, browser.open_page(chromium) as (page, problems):
        page.goto(f"{served}/interviewer/login/{interviews.interviewer_token(reset=True)}")
        page.fill("input[name=candidate]", "Ada")
        with page.expect_navigation():
            page.click("text=New session")
        with page.expect_navigation():
            page.click("[data-testid=session-row] a:text('Ada')")
        # a long query on the timeline wraps instead of widening the page
        query = "+".join(["sum(rate(http_server_request_duration_seconds_count[5m]))"] * 60)  # no space
        detail = {"path": "/api/metrics/query_range", "args": {"query": query}, "status": 200, "bytes": 9}
        interviews.record(session_of(interviews, "Ada"), "api", detail)
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= browser.VIEWPORT["width"]
        # safe to share: the next hint's text only when asked for
        assert LEAK.hints[0].text not in page.content()
        page.click("[data-testid=hint] a[data-peek]")
        page.locator("[data-peek-text]", has_text=LEAK.hints[0].text).wait_for()

        # a release asks first, and can be undone for a few seconds: the button goes by itself
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.locator("[data-testid=hint]").first.locator("button:text('Release')").click()
        with page.expect_navigation():
            page.click("[data-testid=undo-hint] button")
        assert interviews.released_hints(session_of(interviews, "Ada")) == []
        page.locator("[data-live$='/live/timeline']", has_text="Hint 1 withdrawn").wait_for()
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.locator("[data-testid=hint]").first.locator("button:text('Release')").click()
        page.locator("[data-testid=undo-hint]").wait_for(state="detached", timeout=(UNDO_HINT_S + 5) * 1000)
        assert interviews.released_hints(session_of(interviews, "Ada")) == [0]

        page.check("input[name='rating.tool_use'][value='3']")
        page.fill("form.rubric textarea[name=notes]", "Went straight to the pool.")
        page.reload()
        page.locator("[data-testid=draft-restored]").wait_for()
        assert page.is_checked("input[name='rating.tool_use'][value='3']")
        assert page.input_value("form.rubric textarea[name=notes]") == "Went straight to the pool."

        # refused (the form's own checks bypassed, as an old browser would): the draft waits
        page.locator("form.rubric").evaluate("form => form.setAttribute('novalidate', '')")
        with page.expect_navigation():
            page.click("form.rubric button[type=submit]")
        assert "The rubric was not saved" in page.content()
        with page.expect_navigation():
            page.click("text=Back to the session")
        assert page.input_value("form.rubric textarea[name=notes]") == "Went straight to the pool."

        for dimension in ("systematic_approach", "correlating_data", "root_cause", "fix"):
            page.check(f"input[name='rating.{dimension}'][value='1']")
        page.select_option("select[name=level]", "pass")
        with page.expect_navigation():
            page.click("form.rubric button[type=submit]")
        page.locator("[data-testid=rubric-result]").wait_for()
        assert interviews.rubric(session_of(interviews, "Ada")).body["notes"] == "Went straight to the pool."
        page.reload()  # saved: no draft to restore any more
        assert page.locator("[data-testid=draft-restored]").count() == 0
        # the refused save is the one error; a poll a navigation cut short is not one
        unexpected = [p for p in problems.take() if "400" not in p and not ("/live/" in p and "ABORTED" in p)]
        assert unexpected == []


def test_in_a_browser_an_open_candidate_page_notices_a_pause(served, interviews):
    """The candidate's open page polls ``/interview/clock`` (never recorded) and shows the waiting
    page once the interviewer pauses, without the candidate reloading it."""
    browser.require_chromium()
    session_id, token = interviews.create_session("Ada", LEAK.id, LEAK.default_seed, 18 * 60.0)
    interviews.start(session_id)
    with browser.launch() as chromium, browser.open_page(chromium) as (page, _problems):
        page.goto(f"{served}/join/{token}")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.locator("[data-testid=time-left]").count() == 1
        recorded = len(interviews.events(session_id))
        interviews.pause(session_id)
        page.wait_for_function("document.body.innerText.includes('paused')", timeout=15_000)
        assert page.locator("[data-testid=time-left]").count() == 0
    kinds = [event.kind for event in interviews.events(session_id)[recorded:]]
    assert kinds == ["clock"]  # the pause; no poll was recorded as a request


def test_a_reveal_shows_one_candidates_answer_not_the_next_ones(app, console, interviews):
    """Revealing Ada's answer to score her leaves Bob's session safe to share (the next candidate
    on the same scenario, whose screen the interviewer shares), the home page too; the comparison
    links Ada's scorecard only; hiding Ada's again leaves any other reveal standing."""
    joined(app, new_session(console, "Ada"))
    joined(app, new_session(console, "Bob"))
    ada_id, bob_id = session_of(interviews, "Ada"), session_of(interviews, "Bob")
    console.post("/interviewer/reveal", data={"reveal": "yes", "session": ada_id})
    ada = console.get(f"/interviewer/sessions/{ada_id}").get_data(as_text=True)
    assert str(escape(LEAK.ground_truth.mechanisms[0].text)) in ada and "do not share" in ada
    for path in (
        f"/interviewer/sessions/{bob_id}",
        f"/interviewer/sessions/{bob_id}/live/timeline",
        "/interviewer/",
    ):
        html = console.get(path).get_data(as_text=True)
        assert [phrase for phrase in answer_phrases() if phrase in html] == [], path
    assert console.get(f"/interviewer/sessions/{bob_id}/scorecard.json").status_code == 403
    assert console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").status_code == 200
    compare = console.get("/interviewer/compare").get_data(as_text=True)
    assert f"/sessions/{ada_id}/scorecard.html" in compare and f"/sessions/{bob_id}/scorecard" not in compare
    assert "do not share this page" in compare and "Safe to share" not in compare  # others' scores

    console.post("/interviewer/reveal", data={"reveal": "yes", "session": bob_id})
    console.post("/interviewer/reveal", data={"reveal": "no", "session": ada_id})
    assert console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").status_code == 403
    assert console.get(f"/interviewer/sessions/{bob_id}/scorecard.json").status_code == 200
    stale = console.post("/interviewer/reveal", data={"reveal": "yes", "session": "0123456789abcdef"})
    assert stale.status_code == 404  # a deleted session's page: nothing revealed, least of all everything
    assert console.get_cookie(REVEAL_COOKIE, path="/interviewer").value == bob_id
    console.post("/interviewer/reveal", data={"reveal": "no"})  # "Hide every answer"
    assert console.get_cookie(REVEAL_COOKIE, path="/interviewer") is None
