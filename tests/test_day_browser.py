"""An interview day in real Chromium (issue 19), against ``obsim run`` without a scenario serving
the ready datasets of connection-leak, cron-storm and redis-keys-scan.

- The console's home: every faulty scenario with its title, difficulty and time limit, the ready
  ones offered for a new session, the others with a way to prepare them; one session made per
  scenario, and the sessions grouped by their scenario.
- A whole interview on the safe-to-share console: a session made (a reload after "New session" makes
  no second one), the candidate joins through its link, investigates a few views and submits a
  diagnosis written in their own words through the form; the console shows its automatic score.
  Until the interviewer presses Reveal, no phrase that gives the answer away (ground truth, hints
  not yet released, rubric statements, expected signals, the scenario's id) is in any console page's
  text or HTML; after it, every one is.

Selectors are form field names, form actions and ``data-testid`` hooks, not the console's wording.
The screenshots ``day`` and ``session-safe`` of README are taken here (see ``tests/browser.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from markupsafe import escape

from interview.scoring.rubric import checklist
from interview.store import InterviewStore
from obsim import scenario as scenarios
from obsim.scenario import Scenario
from obsim_cli import dataset_cache as cache
from tests import browser

browser.require_chromium()
pytestmark = pytest.mark.slow

#: the datasets the day server is given ready (the others stay not ready: nothing is prepared here)
READY = ("connection-leak", "cron-storm", "redis-keys-scan")
#: the whole interview's scenario: a hard one, whose answer the candidate writes in their own words
INTERVIEW = scenarios.load("redis-keys-scan")
P95 = "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"


@dataclass
class Day:
    """The running day server, the interviewer's login link and the database it records into."""

    server: browser.Server
    login: str
    interviews: InterviewStore


@pytest.fixture(scope="module")
def day(datasets, tmp_path_factory) -> Iterator[Day]:
    for name in READY:
        datasets[name]  # generated (or found in the cache) before the server looks for them
    database = f"sqlite:///{tmp_path_factory.mktemp('day') / 'interviews.sqlite'}"
    with browser.run_obsim(["run", "--db", database], timeout=180) as server:
        login = re.search(r"interviewer console: (\S+/interviewer/login/\S+)", server.output()).group(1)
        yield Day(server, login, InterviewStore(database))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.launch() as launched:
        yield launched


@pytest.fixture
def problems() -> Iterator[browser.Problems]:
    """What every page of a test reports going wrong; a live panel's poll that a navigation cut
    short is not a problem."""
    collected = browser.Problems()
    yield collected
    unexpected = [p for p in collected.all() if not ("/live/" in p and "ERR_ABORTED" in p)]
    assert unexpected == []


@pytest.fixture
def console(day, chromium, problems) -> Iterator[Any]:
    """The interviewer's tab, logged in, on the console's home, safe to share (the default)."""
    context = chromium.new_context(viewport=browser.VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems.attach(page)
    try:
        browser.goto(page, day.login)
        assert page.url == f"{day.server.base}/interviewer/"
        yield page
    finally:
        context.close()


def new_session(page: Any, candidate: str, incident: Scenario) -> str:
    """Make a session for ``candidate`` on ``incident`` with the home's form; its link, shown once."""
    form = page.locator("form[action$='/interviewer/sessions']")
    form.locator("input[name=candidate]").fill(candidate)
    option = form.locator("select[name=scenario] option", has_text=incident.title)
    form.locator("select[name=scenario]").select_option(option.get_attribute("value"))
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    created = page.locator("[data-testid=new-link]")
    assert candidate in created.inner_text() and incident.title in created.inner_text()
    return created.locator("code").inner_text().strip()


def group(page: Any, incident: Scenario) -> Any:
    """The home's panel of ``incident``'s sessions."""
    return page.locator("[data-testid=scenario-group]", has=page.locator("h2", has_text=incident.title))


def test_the_days_home_lists_every_scenario_and_groups_the_sessions(day, console):
    faulty = [s for s in scenarios.load_all() if s.ground_truth is not None]
    ready = {s.id for s in faulty if cache.is_cached(s)}
    assert set(READY) <= ready, "the module's datasets are in the cache the server reads"

    rows = console.locator("[data-testid=day-scenario]")
    assert rows.count() == len(faulty)
    offered = console.locator("form[action$='/interviewer/sessions'] select[name=scenario] option")
    assert offered.count() == len(ready)
    for incident in faulty:
        row = rows.filter(has_text=incident.title)
        assert row.count() == 1, incident.title
        text = row.inner_text()
        assert incident.difficulty in text and f"{incident.time_limit_minutes} min" in text, text
        # a session is made on a ready scenario; a missing dataset is prepared from its row (not
        # pressed here, it would generate for minutes: test_interview_day.py presses it with the
        # generation held)
        prepare = row.locator("form[action$='/interviewer/prepare'][method=post] button[type=submit]")
        assert prepare.count() == (0 if incident.id in ready else 1), incident.id
        assert offered.filter(has_text=incident.title).count() == (1 if incident.id in ready else 0)
    assert not any(s.id in console.content() for s in faulty), "a scenario's id names its answer"

    people = {
        "Ada Lovelace": "connection-leak",
        "Barbara Liskov": "cron-storm",
        "Edsger Dijkstra": "redis-keys-scan",
    }
    links = {}
    for candidate, scenario_id in people.items():
        links[candidate] = new_session(console, candidate, scenarios.load(scenario_id))
        assert links[candidate].startswith(f"{day.server.base}/join/")
    assert len(set(links.values())) == len(people)

    browser.goto(console, console.url)  # the links were shown once: the home as any reload shows it
    assert console.locator("[data-testid=new-link]").count() == 0
    for candidate, scenario_id in people.items():
        names = group(console, scenarios.load(scenario_id)).locator("[data-testid=session-row] a")
        assert [name for name in names.all_inner_texts() if name in people] == [candidate]
        stored = [s for s in day.interviews.sessions() if s.candidate == candidate]
        assert [s.scenario_id for s in stored] == [scenario_id]
    browser.screenshot(console, "day")


def giveaways(incident: Scenario, released: set[int]) -> list[str]:
    """Every phrase that gives ``incident``'s answer away: its id, the ground truth (summary,
    mechanism, root causes, causal chain, expected signals, decoys), the rubric's statements and
    the hints not ``released``."""
    truth = incident.ground_truth
    assert truth is not None
    phrases = [incident.id, truth.summary.strip().splitlines()[0]]
    phrases += [m.text for m in truth.mechanisms]
    phrases += [c.description for c in truth.root_causes]
    phrases += [step.text for step in truth.causal_chain]
    phrases += [text for e in truth.evidence for text in (e.signal, e.description)]
    phrases += [text for d in truth.decoys for text in (d.description, d.why_not)]
    phrases += list(checklist(incident))
    phrases += [hint.text for index, hint in enumerate(incident.hints) if index not in released]
    return phrases


def shown(page: Any, phrases: list[str]) -> dict[str, list[str]]:
    """Which ``phrases`` the page has in its rendered text (every <details> opened first) and which
    in its HTML as the server sends it (escaped as the templates escape them)."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    text = " ".join(page.inner_text("body").split())
    html = page.request.get(page.url).text()
    return {
        "text": [p for p in phrases if " ".join(p.split()) in text],
        "html": [p for p in phrases if str(escape(p)) in html],
    }


def fill_diagnosis(page: Any, answer: dict[str, Any]) -> None:
    """Type a diagnosis into the submission form, each field in the candidate's own words."""
    for field in ("root_cause", "mechanism", "mitigation", "fix", "prevention"):
        page.fill(f"form.submission textarea[name={field}]", answer[field])
    page.fill(
        "form.submission textarea[name=locations]",
        "\n".join(
            f"{place['file'].removeprefix('/srv/platform-api/')}:{place['lines'][0]}-{place['lines'][1]}"
            for place in answer["locations"]
        ),
    )
    page.fill("form.submission textarea[name=causal_chain]", "\n".join(answer["causal_chain"]))
    page.fill("form.submission input[name=starts_at]", answer["starts_at"])
    page.select_option("form.submission select[name=repeats]", answer["repeats"])
    page.fill("form.submission input[name=confidence]", str(answer["confidence"]))


def test_a_whole_interview_on_the_safe_to_share_console(day, console, chromium, problems):
    # a session for Grace; reloading the page "New session" led to makes no second one
    link = new_session(console, "Grace", INTERVIEW)
    console.reload(wait_until="load")
    assert console.locator("[data-testid=new-link]").count() == 0
    assert [s.candidate for s in day.interviews.sessions()].count("Grace") == 1
    with console.expect_navigation():
        group(console, INTERVIEW).locator("[data-testid=session-row] a", has_text="Grace").click()
    session_url = console.url
    grace = session_url.rsplit("/", 1)[1]
    with console.expect_navigation():
        console.locator("form[action$='/start'] button[type=submit]").click()

    # the candidate joins through the link and investigates: traces, one trace, a query, the code
    context = chromium.new_context(viewport=browser.VIEWPORT)
    candidate = context.new_page()
    candidate.set_default_timeout(30_000)
    problems.attach(candidate)
    try:
        browser.goto(candidate, link)
        with candidate.expect_navigation():
            candidate.locator("[data-testid=gate] form[method=post] button[type=submit]").click()
        assert candidate.url == f"{day.server.base}/"
        browser.wait_for_charts(candidate)
        window = "&".join(
            f"{end}={instant.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            for end, instant in (("from", INTERVIEW.window.start), ("to", INTERVIEW.window.end))
        )
        browser.goto(candidate, f"{day.server.base}/traces?{window}")
        candidate.select_option("form select[name=service]", "platform-api")
        candidate.fill("form input[name=min_duration]", "100ms")
        with candidate.expect_navigation():
            candidate.locator("input[name=min_duration]").press("Enter")
        with candidate.expect_navigation():
            candidate.locator("a[href^='/traces/']").first.click()
        browser.wait_for_charts(candidate)
        # the interviewer gives the first hint (a release may ask first); the candidate reads it
        console.once("dialog", lambda dialog: dialog.accept())
        console.locator("[data-testid=hint]").first.locator("form button[type=submit]").click()
        console.get_by_text(INTERVIEW.hints[0].text).first.wait_for()
        browser.goto(candidate, f"{day.server.base}/metrics?{window}")
        assert INTERVIEW.hints[0].text in candidate.locator("[data-testid=hints]").inner_text()
        candidate.fill("textarea[name=query]", P95)
        with candidate.expect_navigation():
            candidate.locator("form.query").evaluate("form => form.submit()")
        browser.wait_for_charts(candidate)
        culprit = INTERVIEW.ground_truth.root_causes[0]
        browser.goto(candidate, f"{day.server.base}/code-search?q={culprit.function}")
        with candidate.expect_navigation():
            candidate.locator(f"a[href*='{culprit.file}']").first.click()

        # the diagnosis, written in the candidate's words (the scenario's paraphrase of its answer)
        browser.goto(candidate, f"{day.server.base}/submit")
        answer = json.loads((INTERVIEW.directory / "paraphrase_submission.json").read_text())
        fill_diagnosis(candidate, answer)
        for seen in ("Traces", "Metrics", "Code"):  # the views it saw, as the form words them
            choices = candidate.locator("label", has=candidate.locator("input[name=evidence_events]"))
            choices.filter(has_text=seen).first.locator("input[name=evidence_events]").check()
        with candidate.expect_navigation():
            candidate.locator("form.submission button[type=submit]").click()
        assert candidate.locator("[data-testid=submitted]").is_visible()
    finally:
        context.close()

    # the console's live panel shows the automatic score the server stored, with no reload
    stored = day.interviews.submissions(grace)
    assert len(stored) == 1 and stored[0].body["root_cause"] == answer["root_cause"]
    total = stored[0].automatic_score["total"]
    assert total >= 70, stored[0].automatic_score  # a correct answer in other words scores well
    submission = console.locator("[data-testid=submission]")
    submission.first.wait_for(timeout=15_000)
    figures = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", submission.first.inner_text())]
    assert any(abs(figure - total) < 0.5 for figure in figures), (total, submission.first.inner_text())

    # safe to share: nothing of the answer on any console page
    browser.goto(console, session_url)
    hidden = giveaways(INTERVIEW, released={0})
    browser.screenshot(console, "session-safe")
    assert shown(console, hidden) == {"text": [], "html": []}
    browser.goto(console, f"{day.server.base}/interviewer/")
    assert shown(console, hidden) == {"text": [], "html": []}, "home"
    with console.expect_navigation():  # the comparison of this scenario's candidates
        group(console, INTERVIEW).locator("a[href*='/interviewer/compare']").click()
    browser.wait_for_charts(console)
    assert any("Grace" in row for row in console.locator("[data-testid=compare-row]").all_inner_texts())
    assert shown(console, hidden) == {"text": [], "html": []}, "compare"

    # the interviewer reveals the answer: all of it is on the session page
    browser.goto(console, session_url)
    with console.expect_navigation():
        console.locator("[data-testid=share-mode] button[type=submit]").click()
    assert console.url == session_url
    assert shown(console, hidden) == {"text": hidden, "html": hidden}
