"""A whole interview in real Chromium, against the real ``obsim serve`` command, with a restart.

The interviewer logs in with the printed link, creates a session and starts the clock; the
candidate opens their link, investigates (database view at the leak, a PromQL query, a log search),
keeps notes and submits findings through the form; the interviewer follows the live timeline,
releases a hint the candidate then sees, restarts the server, finds everything still there, scores
the rubric and exports the scorecard.  Every page must load without console errors, failed
requests or error responses.
"""

from __future__ import annotations

import json
import re

import pytest

from tests import browser

browser.require_chromium()
pytestmark = pytest.mark.slow

LEAK_AT = "2026-03-10T15:00:00Z"
QUERY = "sum(db_client_connection_count) by (state)"


@pytest.fixture(scope="module")
def chromium():
    with browser.launch() as launched:
        yield launched


def submit_findings(page) -> None:
    page.fill(
        "textarea[name=root_cause]",
        "Transactions leak when the validation call times out: no rollback, no close.",
    )
    page.fill("textarea[name=locations]", "lib/database/transactions.py:59-76")
    page.fill("textarea[name=mechanism]", "Sessions are never closed on the error path, so connections leak.")
    page.fill("input[name=starts_at]", "2026-03-10T14:20:00Z")
    page.select_option("select[name=repeats]", "none")
    page.fill(
        "textarea[name=causal_chain]",
        "validation-service times out\ntransaction never rolled back\npool exhausted",
    )
    page.locator("label", has_text="Database, at").locator("input[name=evidence_events]").check()
    page.check("input[name=evidence_views][value=metrics]")
    page.fill("textarea[name=mitigation]", "Restart the service to free the connections")
    page.fill("textarea[name=fix]", "Roll back and close the session in a finally block for every exception")
    page.fill("input[name=confidence]", "0.8")
    with page.expect_navigation():
        page.click("form.submission button[type=submit]")


def score_rubric(page) -> None:
    for dimension, rating in (
        ("systematic_approach", 2),
        ("tool_use", 3),
        ("correlating_data", 2),
        ("root_cause", 3),
        ("fix", 2),
    ):
        page.check(f"input[name='rating.{dimension}'][value='{rating}']")
    for index in range(3):
        page.check(f"input[name='check.{index}']")
    page.select_option("select[name=level]", "strong")
    page.fill("form.rubric textarea[name=notes]", "Systematic; found the pool first.")
    with page.expect_navigation():
        page.click("form.rubric button[type=submit]")


def test_a_whole_interview_survives_a_restart(datasets, chromium, tmp_path):
    datasets["connection-leak"]  # generated (or cached) before the server looks for it
    port = browser.free_port()
    command = ["serve", "connection-leak", "--db", f"sqlite:///{tmp_path / 'interviews.sqlite'}"]
    interviewer_context = chromium.new_context(viewport=browser.VIEWPORT)
    candidate_context = chromium.new_context(viewport=browser.VIEWPORT)
    problems = browser.Problems()
    console, candidate = interviewer_context.new_page(), candidate_context.new_page()
    for page in (console, candidate):
        page.set_default_timeout(30_000)
        problems.attach(page)
    try:
        with browser.run_obsim([*command, "--candidate", "Ada"], port=port, timeout=180) as server:
            login = re.search(r"interviewer console: (\S+/interviewer/login/\S+)", server.output()).group(1)
            base = server.base

            # the interviewer creates a session for Grace and starts her clock
            browser.goto(console, login)
            console.fill("input[name=candidate]", "Grace")
            with console.expect_navigation():
                console.click("text=New session")
            link = console.locator("[data-testid=new-link] code").inner_text().strip()
            assert link.startswith(f"{base}/join/")
            with console.expect_navigation():
                console.click("[data-testid=session-row] a:text('Grace')")
            session_url = console.url
            with console.expect_navigation():
                console.click("button:text('Start')")
            assert "used of 18 min" in console.locator("[data-testid=clock]").inner_text()

            # the candidate opens the link's start page and its button opens the platform
            browser.goto(candidate, link)
            with candidate.expect_navigation():
                candidate.click("button:text('Open the platform')")
            assert (
                candidate.url == f"{base}/"
                and "min left" in candidate.locator("[data-testid=time-left]").inner_text()
            )
            browser.goto(candidate, f"{base}/database?at={LEAK_AT}")
            browser.goto(candidate, f"{base}/metrics?from=2026-03-10T14:00:00Z&to=2026-03-10T15:45:00Z")
            candidate.fill("textarea[name=query]", QUERY)
            with candidate.expect_navigation():
                candidate.locator("form.query").evaluate("form => form.submit()")
            browser.wait_for_charts(candidate)

            # the interviewer's timeline follows without reloading the page, then a hint goes out
            live = console.locator("[data-live$='/live/timeline']")
            live.locator("text=Metrics: query").first.wait_for(timeout=15_000)
            assert "Database, at 15:00 UTC" in live.inner_text() and "by (state)" in live.inner_text()
            hint = console.locator("[data-testid=hint]").first
            console.once("dialog", lambda dialog: dialog.accept())  # a release asks first
            with console.expect_navigation():
                hint.locator("button:text('Release')").click()
            released = console.locator("[data-testid=hint]").first.inner_text()
            assert "released at" in released and "before its suggested minute" in released
            hint_text = released.split("(suggested")[0].strip()  # its text, shown once released
            browser.goto(candidate, f"{base}/logs?query=%7Blevel%3D%22warning%22%7D")
            assert hint_text in candidate.locator("[data-testid=hints]").inner_text()

            # notes save themselves; the findings go through the form
            browser.goto(candidate, f"{base}/submit")
            candidate.fill(
                "form[data-autosave] textarea[name=text]", "pool 200/200, idle in transaction since 14:20"
            )
            candidate.locator("[data-testid=notes-status]:text('saved')").wait_for(timeout=10_000)
            submit_findings(candidate)
            assert "were submitted" in candidate.locator("[data-testid=submitted]").inner_text()

            # secrets are printed once, at launch, and never written to the request log
            output = server.output()
            assert output.count(login.rsplit("/", 1)[1]) == 1 and link.rsplit("/", 1)[1] not in output
            assert "/join/" in output and "/interviewer/login/" in output.split("stop with Ctrl-C", 1)[1]

        with browser.run_obsim([*command, "--candidate", "Linus"], port=port, timeout=180):
            # while the server stopped and was down, the console's live panels may have polled it in
            # vain (refused, or cut off as it stopped), and the browser may have asked for the tab's
            # icon; Playwright delivers what the browser reported meanwhile on this thread's next call
            console.evaluate("0")
            restart_gap = problems.take()
            assert all(("/live/" in p or "/static/favicon" in p) and "net::ERR_" in p for p in restart_gap), (
                restart_gap
            )
            # nothing is lost: the interviewer's cookie, the candidate's link, the whole record
            browser.goto(console, session_url)
            # a poll refused just before the server came back may be reported only by now
            restart_gap = problems.take()
            assert all("/live/" in p and "net::ERR_" in p for p in restart_gap), restart_gap
            timeline = console.locator("[data-live$='/live/timeline']").inner_text()
            for expected in (
                "Database, at 15:00 UTC",
                QUERY.split("(")[0],
                "Opened the submission form",
                "Notes: pool 200/200",
                "Submitted findings",
            ):
                assert expected in timeline, expected
            automatic = console.locator("[data-testid=submission]").first.inner_text()
            total = float(re.search(r"automatic score (\d+(?:\.\d+)?) / 100", automatic).group(1))
            assert total >= 60, automatic
            browser.goto(candidate, f"{base}/submit")
            assert "idle in transaction since 14:20" in candidate.input_value(
                "form[data-autosave] textarea[name=text]"
            )
            assert hint_text in candidate.locator("[data-testid=hints]").inner_text()

            # the interviewer reveals the answer (the checklist with it), scores the rubric, exports
            with console.expect_navigation():
                console.click("button:text('Reveal the answer')")
            score_rubric(console)
            result = console.locator("[data-testid=rubric-result]").inner_text()
            assert "level strong" in result and "the checklist suggests meets the bar" in result
            assert "/ 100" not in result  # ratings and a level, not a second number
            browser.screenshot(console, "console")
            figures = console.locator("[data-testid=figures]").inner_text()
            assert "database" in figures and "metrics" in figures and "hints 1" in figures
            with console.expect_download() as download:
                console.click("text=Markdown")
            markdown = download.value.path().read_text()
            # Chromium reports a link that downloads as an aborted request, and cuts a live poll short
            aborted = problems.take()
            assert all(
                ("scorecard.md" in problem or "/live/" in problem) and "ERR_ABORTED" in problem
                for problem in aborted
            ), aborted
            assert "## Automatic score (computed by obsim)" in markdown
            assert float(re.search(r"\*\*([\d.]+) / 100\*\* from the latest", markdown).group(1)) == total
            assert (
                "## Interviewer's rubric (scored by a person)" in markdown and "Level: **strong**" in markdown
            )
            assert "| database, logs, metrics, overview |" in markdown
            card = json.loads(console.request.get(session_url + "/scorecard.json").text())
            assert card["candidate"] == "Grace" and card["interviewer"]["level"] == "strong"
            cited = card["submission"]["evidence"]
            assert {"view": "metrics", "query": "", "link": "", "note": ""} in cited
            assert any(e["view"] == "database" and e["link"].startswith("/database?at=") for e in cited), (
                cited
            )
            assert card["dataset"]["scenario"] == "connection-leak"
            with console.expect_navigation():
                console.click("[data-testid=scorecard-html]")
            assert (
                "Automatic score · computed by obsim"
                in console.locator("[data-testid=automatic]").text_content()
            )
            assert "strong" in console.locator("[data-testid=interviewer]").inner_text()
            browser.screenshot(console, "scorecard")
            browser.goto(console, f"{base}/interviewer/compare")
            row = console.locator("[data-testid=compare-row]", has_text="Grace").inner_text()
            assert f"{total:g}" in row and "strong" in row
    finally:
        interviewer_context.close()
        candidate_context.close()
    assert problems.all() == []
