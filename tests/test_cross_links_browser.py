"""Every kind of link from one view to another lands on a non-empty result when its source had one.

The overview's route links once searched traces by an operation no span was called, and answered
nothing; the Code tab carried a time range the code view refuses.  Here real Chromium walks every
cross-link the templates make (:data:`LINKS`, held to the templates by
:func:`test_the_walk_covers_every_cross_link_the_templates_make`) on connection-leak's dataset, and
on n-plus-one-deploy's for the links only a deploy has.  Each link is followed as rendered (its
``href``, or the chart's click handler for a point), and the landing page must answer 200 and show
what the link promised: traces, spans, log lines, a series, a highlighted line, job runs, releases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import browser

browser.require_chromium()
pytestmark = pytest.mark.slow

TEMPLATES = Path(__file__).resolve().parents[1] / "observability_ui" / "templates"


def _count(selector: str) -> Callable[[Any], int]:
    return lambda page: page.locator(selector).count()


def _series_points(page: Any) -> int:
    """Points with a value in the page's first chart, as plotly drew them."""
    return page.locator("[data-figure]").first.evaluate(
        "el => el.data.reduce((n, t) => n + Array.from(t.y || []).filter(y => y !== null).length, 0)"
    )


def _highlighted(page: Any) -> int:
    """Lines of the source shown; the highlighted ones when the link named a line."""
    return page.locator(".source .hll").count() if "line=" in page.url else page.locator(".source").count()


# What a landing shows when it is not empty, by the view it belongs to.
LANDINGS: dict[str, Callable[[Any], int]] = {
    "traces.search": _count("[data-testid=trace-results] tbody a"),
    "traces.trace": _count("[data-testid=span]"),
    "logs.page": _count("details.log-row"),
    "metrics.page": _series_points,
    "code.browse": _highlighted,
    "code.search": _count("td.mono a"),
    "code.release_history": _count("[data-testid=releases] tbody td.mono"),
    "jobs.page": _count("[data-testid=runs] tbody td.mono"),
}


@dataclass(frozen=True)
class Link:
    """One kind of cross-link: on ``template``'s page, the links ``selector`` finds lead to ``target``."""

    template: str
    target: str
    source: str  # the page's path (the whole recording unless it says otherwise)
    selector: str
    dataset: str = "connection-leak"


APP_ERRORS = '/logs?query={service="platform-api", level="error"}'  # with their stack traces
FIRING = "td[data-testid=rule-state]:text-is('firing')"  # a rule whose expression has a series
LINKS = (
    Link(
        "overview.html",
        "traces.search",
        "/",
        "[data-route='POST /api/v1/workflows'] a:text-is('traces')",
    ),
    Link("overview.html", "logs.page", "/", "[data-route='POST /api/v1/workflows'] a:text-is('logs')"),
    Link("overview.html", "metrics.page", "/", ".panel h3 a:text-is('explore')"),
    Link("overview.html", "code.release_history", "/", "[data-testid=deploy-changes]", "n-plus-one-deploy"),
    Link("traces.html", "traces.trace", "/traces?errors=1", "[data-testid=trace-results] tbody a"),
    Link("trace.html", "logs.page", "TRACE_WITH_LOGS", "a:text-is('logs of this trace')"),
    Link("trace.html", "code.browse", "TRACE_WITH_LOGS", "[data-testid=waterfall] a[href^='/code/']"),
    Link("logs.html", "traces.trace", '/logs?query={level="error"}', "details.log-row a[href^='/traces/']"),
    Link("logs.html", "code.browse", APP_ERRORS, "details.log-row a[href^='/code/']"),
    Link("jobs.html", "jobs.page", "/jobs", "tbody a[href*='job=']"),
    Link("jobs.html", "traces.trace", "/jobs", "[data-testid=runs] a:text-is('trace')"),
    Link("jobs.html", "logs.page", "/jobs?outcome=error", "[data-testid=runs] a:text-is('logs')"),
    Link("database.html", "logs.page", "/database", "[data-testid=sessions] a:text-is('logs')"),
    Link("database.html", "traces.search", "/database", "[data-testid=sessions] a:text-is('traces')"),
    Link(
        "alerts.html",
        "metrics.page",
        "/alerts",
        f"[data-testid=alert-rules] tr:has({FIRING}) a[href^='/metrics']",
    ),
    Link("alerts.html", "metrics.page", "/alerts", "[data-testid=alert-instances] a:text-is('explore')"),
    Link("alerts.html", "code.browse", "/alerts", "[data-testid=alert-rules] a[href^='/code/']"),
    Link("logs.html", "logs.page", '/logs?query={level="error"}', "a[title='Only lines with this value']"),
    Link("code.html", "code.browse", "/code/", ".files a"),
    Link("code.html", "code.search", "/code/", "form.query"),
    Link("code.html", "code.release_history", "/code/", "[data-testid=releases-link]"),
    Link("code_search.html", "code.browse", "/code-search?q=session", "td.mono a"),
    Link(
        "code_releases.html",
        "code.browse",
        "/code/releases",
        "[data-testid=changed-file] h3 a",
        "n-plus-one-deploy",
    ),
)
# Links a template makes that are not a url_for: a span's or a frame's code line (code_link), and
# an alert rule's expression opened from its instance (``explore``, built by the view).
NOT_URL_FOR = {
    ("trace.html", "code.browse"),
    ("logs.html", "code.browse"),
    ("alerts.html", "code.browse"),
    ("alerts.html", "metrics.page"),
}
_URL_FOR = re.compile(r"url_for\('(\w+\.\w+)'")


def test_the_walk_covers_every_cross_link_the_templates_make():
    """Each template's ``url_for`` (the navigation, the interview's pages and the deploy markers'
    toggle aside) is a link kind below, and so is every link made otherwise."""
    made = set(NOT_URL_FOR)
    for template in TEMPLATES.glob("*.html"):
        if template.name in {"base.html", "error.html", "gate.html", "submit.html"}:
            continue
        for endpoint in _URL_FOR.findall(template.read_text()):
            if endpoint.split(".")[0] in {"static", "assets", "interview"}:
                continue
            if template.name == "overview.html" and endpoint == "overview.page":
                continue  # the deploy markers' toggle
            made.add((template.name, endpoint))
    walked = {(link.template, link.target) for link in LINKS}
    assert made <= walked, sorted(made - walked)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.launch() as launched:
        yield launched


@pytest.fixture(scope="module")
def sites(datasets) -> Iterator[Callable[[str], str]]:
    """A server over a run's dataset, started when a test first asks for that run."""
    with ExitStack() as servers:
        started: dict[str, str] = {}

        def site(run: str) -> str:
            if run not in started:
                started[run] = servers.enter_context(browser.serve(datasets[run], "An incident."))
            return started[run]

        yield site


def _trace_with_logs(base: str) -> str:
    """The trace of a request that logged and wrote (an INSERT's span carries its code location):
    the source of the trace page's links to logs and to code."""
    query = '{service="platform-api"} |= "request completed" | http.request.method="POST"'
    healthy = {"from": "now-100m", "to": "now-90m"}  # before the pool ran dry and writes stopped
    entries = browser.get_json(base, "/api/logs", query=query, **healthy)["entries"]
    for trace_id in dict.fromkeys(entry["trace_id"] for entry in entries if entry["trace_id"]):
        spans = browser.get_json(base, f"/api/traces/{trace_id}")["spans"]
        if any(span["code_url"] for span in spans):
            return f"/traces/{trace_id}"
    raise AssertionError("no request's trace has a statement with its code location")


def _land(page: Any, base: str, link: Link, href: str) -> None:
    response = page.goto(base + href, wait_until="load")
    assert response is not None and response.status == 200, (link, href, response and response.status)
    browser.wait_for_charts(page)
    found = LANDINGS[link.target](page)
    assert found > 0, f"{link.template} -> {link.target}: {href} landed on nothing"


@pytest.mark.parametrize("link", LINKS, ids=lambda link: f"{link.template}->{link.target}")
def test_each_cross_link_lands_on_a_result(chromium, sites, link):
    base = sites(link.dataset)
    source = _trace_with_logs(base) if link.source == "TRACE_WITH_LOGS" else link.source
    with browser.open_page(chromium) as (page, problems):
        browser.goto(page, base + source)
        if link.selector == "form.query":  # the code page's search box
            page.fill("form.query input[name=q]", "session")
            with page.expect_navigation(wait_until="load"):
                page.press("form.query input[name=q]", "Enter")
            assert LANDINGS[link.target](page) > 0
        else:
            links = page.locator(link.selector)
            assert links.count() > 0, f"{link.template}: no {link.selector} on {source}"
            _land(page, base, link, links.first.get_attribute("href"))
        assert not problems.all(), problems.all()


def test_a_point_of_the_trace_scatter_opens_its_trace(chromium, sites):
    """The one cross-link made by script: a click on a point of the duration chart."""
    base = sites("connection-leak")
    with browser.open_page(chromium) as (page, problems):
        browser.goto(page, base + "/traces?errors=1")
        chart = page.locator("[data-click-trace]")
        point = chart.evaluate(
            """el => { const t = el.data.find(d => d.x.length); const xa = el._fullLayout.xaxis,
                  ya = el._fullLayout.yaxis, box = el.querySelector('.nsewdrag').getBoundingClientRect();
                  return {id: t.customdata[0], x: box.left + xa.d2p(xa.d2c(t.x[0])),
                          y: box.top + ya.d2p(t.y[0])}; }"""
        )
        with page.expect_navigation(wait_until="load"):
            page.mouse.click(point["x"], point["y"])
        assert f"/traces/{point['id']}" in page.url
        assert LANDINGS["traces.trace"](page) > 0
        assert not problems.all(), problems.all()


def test_the_application_counts_the_502s_its_creation_traces_show(sites):
    """connection-leak's creations answer 502 when the validation service times out: the overview's
    row for POST /api/v1/workflows counts them, and its traces link finds them."""
    base = sites("connection-leak")
    rows = {row["operation"]: row for row in browser.get_json(base, "/api/overview")["routes"]}
    creation = rows["POST /api/v1/workflows"]
    failed = browser.get_json(
        base,
        "/api/traces",
        service="platform-api",
        operation="POST /api/v1/workflows",
        tags="http.response.status_code=502",
    )
    assert failed["total"] > 0 and creation["errors"] > 0
    assert creation["errors"] > rows["GET /api/v1/workflows"]["errors"], "not averaged with the reads"


def test_every_tab_opens_from_a_view_with_a_range(chromium, sites):
    """The navigation carries the range to every view that takes one, and to none that does not
    (the Code tab once carried it, and the code view refused the page with a 400)."""
    base = sites("connection-leak")
    with browser.open_page(chromium) as (page, problems):
        browser.goto(page, base + "/traces?from=now-30m")
        tabs = [a.get_attribute("href") for a in page.locator("nav a:not([data-toggle])").all()]
        assert len(tabs) == 8, tabs
        for href in tabs:
            browser.goto(page, base + href)
            if not href.startswith("/code/"):
                assert "from=now-30m" in href, href
        assert not problems.all(), problems.all()
