"""The candidate's platform in a real headless Chromium: charts draw, zooming carries the range to
every view, cross-links lead where they promise.

Needs Debian's chromium (``.ci/run`` installs it); skipped with a reason where it is missing. The
plumbing (server, browser, problem collection) is shared with the walkthroughs in ``tests/browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from obsim.dataset.reader import Dataset
from tests import browser

pytestmark = pytest.mark.slow
browser.require_chromium()


@pytest.fixture(scope="module")
def server(datasets) -> Iterator[str]:
    with browser.serve(datasets["cron-storm"], "The platform stalls every hour.") as base:
        yield base


@pytest.fixture(scope="module")
def window(datasets) -> tuple[float, float]:
    with Dataset.open(datasets["cron-storm"]) as dataset:
        return dataset.window()


@pytest.fixture(scope="module")
def problems_and_page(server):
    with browser.launch() as chromium, browser.open_page(chromium) as (tab, problems):
        yield tab, problems
        assert not problems.all(), "\n".join(problems.all())


@pytest.fixture
def page(problems_and_page):
    return problems_and_page[0]


def test_overview_draws_every_panel(server, page):
    page.goto(server + "/?from=now-3h", wait_until="networkidle")
    charts = page.locator("[data-figure]")
    assert charts.count() >= 10
    page.wait_for_function("document.querySelectorAll('[data-figure] svg.main-svg').length >= 10")
    assert page.locator("text=UTC").first.is_visible()


def test_drag_to_zoom_puts_the_window_in_the_url_and_every_link(server, page, window):
    page.goto(server + "/?from=now-3h", wait_until="networkidle")
    browser.wait_for_charts(page)
    end = window[1]
    start = end - 3 * 3600
    chart = page.locator("[data-figure]").first
    browser.drag_zoom(page, chart, start + 0.30 * (end - start), start + 0.40 * (end - start))
    query = parse_qs(urlparse(page.url).query)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", query["from"][0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", query["to"][0])
    for label in ("Logs", "Traces", "Database", "Jobs", "Metrics"):
        href = page.locator("header nav a", has_text=label).get_attribute("href")
        linked = parse_qs(urlparse(href).query)
        assert (linked["from"], linked["to"]) == (query["from"], query["to"]), (label, href)


def test_a_log_line_opens_its_trace_and_the_trace_opens_the_code(server, page):
    page.goto(
        server + '/logs?query={service="platform-api"} |= "request completed"&from=now-1h', wait_until="load"
    )
    page.locator("details.log-row summary").first.click()
    link = page.locator("details.log-row[open] a[href^='/traces/']").first
    with page.expect_navigation():
        link.click()
    assert re.search(r"/traces/[0-9a-f]{32}", page.url)
    rows = page.locator("details.wf-row")
    assert rows.count() >= 2
    statement = page.locator("details.wf-row", has_text=re.compile(r"^\s*(SELECT|INSERT|UPDATE)")).first
    statement.locator("summary").click()
    code = statement.locator("a[href^='/code/']").first
    with page.expect_navigation():
        code.click()
    assert "/code/" in page.url and "line=" in page.url
    assert page.locator(".source").count() == 1


def test_bad_query_shows_a_message_not_a_stack_trace(server, problems_and_page):
    page, problems = problems_and_page
    response = page.goto(server + "/metrics?query=sum(rate(x[5m)", wait_until="load")
    assert response is not None and response.status == 400
    assert page.locator("[role=alert]").is_visible()
    assert "Traceback" not in page.content()
    # The 400 is the page itself (and Chromium's console note about it); nothing else went wrong.
    reported = problems.take()
    assert reported and all("400" in problem for problem in reported), reported
    assert any(problem.startswith("response: 400 GET") and "(document)" in problem for problem in reported)


def test_a_drag_inside_one_second_zooms_to_that_second(server, page, window):
    start = window[1] - 600
    range_from, range_to = (datetime.fromtimestamp(t, UTC).isoformat() for t in (start, start + 4))
    page.goto(f"{server}/logs?" + urlencode({"from": range_from, "to": range_to}), wait_until="load")
    browser.wait_for_charts(page)
    browser.drag_zoom(page, page.locator("[data-figure]").first, start + 1.25, start + 1.75)
    raw = browser.url_range(page.url)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,3}Z", value) for value in raw), raw
    zoomed = [browser.epoch(value) for value in raw]
    assert zoomed[0] == pytest.approx(start + 1.25, abs=0.05) and zoomed[1] == pytest.approx(
        start + 1.75, abs=0.05
    )
    # kept to the millisecond, widened to the shortest range shown, not refused as ending before it starts
    assert page.get_by_test_id("range-adjusted").inner_text() == "(widened to 1 s, the shortest range shown)"
    assert page.get_by_test_id("range-error").count() == 0


def test_a_fan_out_trace_opens_collapsed_and_unfolds_a_level_at_a_time(server, page):
    (biggest,) = browser.get_json(server, "/api/traces", sort="most_spans", limit="1", **{"from": "now-3h"})[
        "traces"
    ]
    spans = browser.get_json(server, f"/api/traces/{biggest['trace_id']}")["spans"]
    children: dict[str | None, list[str]] = {}
    for span in spans:
        children.setdefault(span["parent_id"], []).append(span["span_id"])
    (root,) = children[None]
    assert len(children[root]) > 20 and len(spans) > 300, "a job fanning out over the tenants"
    browser.goto(page, f"{server}/traces/{biggest['trace_id']}")
    rows = page.locator("[data-testid=span]")
    visible = page.locator("[data-testid=span]:visible")
    assert visible.count() == 1 and page.evaluate("document.documentElement.scrollHeight") <= 1200
    head = rows.first
    toggle = head.get_by_test_id("span-toggle")
    assert (
        toggle.inner_text() == str(len(children[root])) and toggle.get_attribute("aria-expanded") == "false"
    )
    assert head.get_by_test_id("hidden-below").inner_text().startswith(f"{len(spans) - 1} spans")

    toggle.click()  # one row per child, each collapsed in turn; the root's details stay closed
    assert toggle.get_attribute("aria-expanded") == "true" and head.get_attribute("open") is None
    assert not head.get_by_test_id("hidden-below").is_visible()
    assert visible.count() == 1 + len(children[root])
    tenant = next(span for span in children[root] if children.get(span))
    row = page.locator(f"[data-span-id='{tenant}']")
    row.get_by_test_id("span-toggle").click()
    assert visible.count() == 1 + len(children[root]) + len(children[tenant])
    row.locator(".wf-name").click()  # the name still opens the span's details
    assert row.get_attribute("open") is not None and row.locator(".wf-detail").is_visible()

    page.get_by_role("button", name="Expand all").click()
    assert visible.count() == rows.count() == len(spans)
    page.get_by_role("button", name="Collapse all").click()
    assert visible.count() == 1 and toggle.get_attribute("aria-expanded") == "false"
    # find in page opens a collapsed block holding a match (hidden="until-found"): as Chromium does
    # then, reveal the block and fire beforematch; its toggle follows
    page.locator(f"#wf-under-{root}").evaluate(
        "block => { block.removeAttribute('hidden'); block.dispatchEvent(new Event('beforematch', {bubbles: true})); }"
    )
    assert toggle.get_attribute("aria-expanded") == "true" and visible.count() == 1 + len(children[root])
