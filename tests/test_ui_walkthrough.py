"""A candidate's diagnosis of each founding incident, clicked through in a real headless Chromium.

Each walkthrough runs over the session's generated dataset: the overview dashboard, a mouse drag
across a chart over the incident (pixels from plotly's axis), a cross-link to the logs that keeps
the zoomed range, a trace opened from a log line, the database sessions at the incident, and the
line of code a span points at. Every step reads what the page shows and checks it against what the
incident must show; the incident's times come from the data, not from a clock. The walkthroughs
also save the screenshots of every view (see ``tests/browser.py``), and fail on any console error,
uncaught exception, failed request or 4xx/5xx response.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from tests import browser

pytestmark = pytest.mark.slow
browser.require_chromium()

CODE_ROOT = browser.REPO_ROOT / "app_under_test"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


@pytest.fixture(scope="module")
def chromium():
    with browser.launch() as launched:
        yield launched


@pytest.fixture
def tab(chromium):
    with browser.open_page(chromium) as opened:
        yield opened


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(path: Path) -> tuple[float, float]:
    with Dataset.open(path) as dataset:
        return dataset.window()


def points(base: str, expr: str, start: float, end: float) -> list[tuple[float, float]]:
    """The single series ``expr`` evaluates to over [start, end], from the server's JSON API."""
    found = browser.get_json(
        base, "/api/metrics/query_range", query=expr, **{"from": iso(start), "to": iso(end)}
    )
    assert len(found["series"]) == 1, (expr, found)
    return [(ts, value) for ts, value in found["series"][0]["points"]]


def values(
    series: list[tuple[float, float | None]], start: float = 0.0, end: float = float("inf")
) -> list[float]:
    return [y for x, y in series if y is not None and start <= x <= end]


# -- steps shared by both walkthroughs ------------------------------------------------------------
def zoom_overview(page, title: str, start: float, end: float) -> tuple[float, float]:
    """Drag across the overview chart ``title`` from ``start`` to ``end``; the zoomed range in the URL."""
    seconds_per_pixel = browser.drag_zoom(page, browser.chart(page, title), start, end)
    raw_from, raw_to = browser.url_range(page.url)
    zoomed = browser.epoch(raw_from), browser.epoch(raw_to)
    tolerance = 3 * seconds_per_pixel + 1
    assert abs(zoomed[0] - start) <= tolerance and abs(zoomed[1] - end) <= tolerance, (zoomed, start, end)
    # The page shows the zoomed range: the picker's inputs, its UTC summary and every chart's x axis.
    assert page.locator(".timepicker input[name=from]").input_value() == raw_from
    assert page.locator(".timepicker input[name=to]").input_value() == raw_to
    shown = TIMESTAMP.findall(page.locator(".timepicker .tz").inner_text())
    assert [browser.epoch(t) for t in shown] == [
        pytest.approx(zoomed[0], abs=1),
        pytest.approx(zoomed[1], abs=1),
    ]
    pool = browser.chart_series(browser.chart(page, "Connection pool"))
    xs = [x for series in pool.values() for x, _ in series]
    assert zoomed[0] - 15 <= min(xs) and max(xs) <= zoomed[1] + 15, "the charts did not redraw for the zoom"
    return zoomed


def assert_range_kept(page, raw: tuple[str, str]) -> None:
    assert browser.url_range(page.url) == raw, page.url
    assert page.locator(".timepicker input[name=from]").input_value() == raw[0]
    assert page.locator(".timepicker input[name=to]").input_value() == raw[1]


def run_log_query(page, query: str) -> tuple[int, list[str]]:
    """Type ``query`` in the logs' query box and run it; the total the page reports and the lines shown."""
    box = page.get_by_label("Log query")
    box.fill(query)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Run query").click()
    browser.wait_for_charts(page)
    count = page.get_by_test_id("log-count").inner_text()
    match = re.search(r"(\d+)–(\d+) of (\d+) matching lines", count)
    assert match, count
    lines = page.locator("details.log-row summary").all_inner_texts()
    assert len(lines) == int(match.group(2)) - int(match.group(1)) + 1
    return int(match.group(3)), lines


def open_log_detail(page, index: int = 0):
    row = page.locator("details.log-row").nth(index)
    row.locator("summary").click()
    assert row.get_attribute("open") is not None
    return row


def field(container, key: str) -> str:
    """The value beside ``key`` in a detail table (a log line's fields, a span's attributes)."""
    row = container.locator(
        "tr", has=container.page.locator("td", has_text=re.compile(f"^{re.escape(key)}$"))
    )
    return row.first.locator("td").nth(1).inner_text().strip()


def spans(page) -> list[dict]:
    """The waterfall as shown: name, duration text (ms) and whether it is marked as an error."""
    return page.get_by_test_id("span").evaluate_all(
        """rows => rows.map(row => ({
            name: row.querySelector('.wf-name').innerText.trim(),
            ms: parseFloat(row.querySelector('.wf-dur').innerText.replace(' ms', '')),
            error: row.querySelector('.wf-name .status-error') !== null,
        }))"""
    )


def expand_waterfall(page) -> None:
    """A fan-out trace opens collapsed (one row for the job); show every span, as "Expand all" does."""
    head = page.get_by_test_id("span").first.get_by_test_id("span-toggle")
    assert head.get_attribute("aria-expanded") == "false", "a job over every tenant opens as one row"
    page.get_by_role("button", name="Expand all").click()
    assert page.locator("[data-testid=span]:visible").count() == page.get_by_test_id("span").count()


def open_span(page, name: str):
    row = page.get_by_test_id("span").filter(has=page.locator(".wf-name", has_text=name)).first
    row.locator(".wf-name").click()  # the summary itself is display: contents, so has no box to click
    assert row.get_attribute("open") is not None and row.locator(".wf-detail").is_visible()
    assert page.locator("[data-testid=span]:not([open]) .wf-detail:visible").count() == 0
    return row


def show_database_at(page, at: float, **filters: str) -> None:
    """From the current page, follow the Database link and show the sessions at ``at``."""
    raw = browser.url_range(page.url)
    with page.expect_navigation(wait_until="load"):
        page.locator("header nav a", has_text="Database").click()
    assert_range_kept(page, raw)
    page.get_by_label("At", exact=True).fill(iso(at))
    for name, value in filters.items():
        page.locator(f"form.query select[name={name}]").select_option(value)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Show").click()
    browser.wait_for_charts(page)
    assert_range_kept(page, raw)


def database_summary(page) -> dict:
    counts = {}
    for badge in page.get_by_test_id("state-count").all():
        state = badge.get_attribute("data-state")
        text = badge.inner_text()
        assert text.startswith(f"{state}: "), text
        counts[state] = int(text.rsplit(": ", 1)[1])
    return {
        "snapshot": browser.epoch(page.get_by_test_id("snapshot-time").inner_text()),
        "counts": counts,
        "total": int(page.get_by_test_id("session-total").inner_text()),
        "max_connections": int(page.get_by_test_id("max-connections").inner_text()),
        "shown": int(page.get_by_test_id("rows-shown").inner_text()),
    }


def session_rows(page) -> list[dict[str, str]]:
    table = page.get_by_test_id("sessions")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = []
    for tr in table.locator("tbody tr").all():
        cells = tr.locator("td").all_inner_texts()
        if len(cells) == len(headers):
            rows.append(dict(zip(headers, (c.strip() for c in cells), strict=True)))
    return rows


def open_code_from_span(page, span_row) -> tuple[str, int]:
    """Click the span's code link; the code page must show the span's file and line, in its function."""
    filepath = field(span_row, "code.filepath")
    lineno = int(field(span_row, "code.lineno"))
    function = field(span_row, "code.function")
    relative = filepath.removeprefix("/srv/platform-api/").rsplit(":", 1)[0]
    with page.expect_navigation(wait_until="load"):
        span_row.locator("a[href^='/code/']").first.click()
    check_code_page(page, relative, lineno)
    above = (CODE_ROOT / relative).read_text().splitlines()[:lineno]
    assert any(re.match(rf"\s*def {re.escape(function)}\(", line) for line in above), function
    return relative, lineno


def check_code_page(page, relative: str, lineno: int) -> None:
    """The code page shows ``relative`` with line ``lineno`` highlighted, anchored and scrolled to."""
    assert page.url.split("?")[0].endswith(f"/code/{relative}"), page.url
    assert f"line={lineno}" in page.url and page.evaluate("location.hash") == f"#L-{lineno}"
    assert page.locator(".source").locator("xpath=..").locator("h3").inner_text() == relative
    assert page.locator(".files a.current").inner_text() == relative
    highlighted = page.locator(".source .hll")
    assert highlighted.count() == 1
    source_line = (CODE_ROOT / relative).read_text().splitlines()[lineno - 1]
    assert highlighted.inner_text().rstrip("\n") == source_line
    # The browser scrolled to the line's anchor: it is on screen, below the sticky header.
    box = page.locator(f"[id='L-{lineno}']").bounding_box()
    header = page.locator("header.top").bounding_box()
    assert box is not None and header is not None
    assert header["y"] + header["height"] <= box["y"] <= browser.VIEWPORT["height"], (box, header)


def in_root_cause(scenario_id: str, relative: str, lineno: int) -> bool:
    """Whether ``relative``:``lineno`` is inside one of the scenario's root causes."""
    return any(
        c.file == relative and c.lines[0] <= lineno <= c.lines[1]
        for c in scenarios.load(scenario_id).ground_truth.root_causes
    )


def assert_no_problems(problems: browser.Problems) -> None:
    assert not problems.all(), "\n".join(problems.all())


# -- connection-leak ------------------------------------------------------------------------------
LEAK_BRIEF = "Since about 14:40 UTC many API endpoints time out; database CPU is normal; the pool shows 100%."


@pytest.fixture(scope="module")
def leak(datasets):
    with browser.serve(datasets["connection-leak"], LEAK_BRIEF) as base:
        yield base, window(datasets["connection-leak"])


def test_connection_leak_walkthrough(leak, tab):
    base, (window_start, window_end) = leak
    page, problems = tab
    used = 'sum(db_client_connection_count{db_client_connection_state="used"})'
    ratio = points(base, f"{used} / sum(db_client_connection_max)", window_start, window_end)
    saturated = next(ts for ts, value in ratio if value >= 1.0)
    assert window_start + 20 * 60 < saturated < window_end - 30 * 60, "the pool saturates tens of minutes in"

    # 1. Overview, default range (the whole recording): the pool climbs to max and never comes back.
    browser.goto(page, base + "/")
    pool = browser.chart_series(browser.chart(page, "Connection pool"))
    pool_max = max(values(pool["max"]))
    assert pool_max >= 100
    assert max(values(pool["used"], end=window_start + 15 * 60)) < 0.5 * pool_max, "healthy at first"
    assert min(values(pool["used"], start=saturated)) == pool_max, "a leak: used stays at max"
    assert max(values(pool["pending"], start=saturated)) > 0
    cpu = browser.chart_series(browser.chart(page, "CPU utilisation by host"))
    assert max(values(cpu["db-1"], start=saturated)) < 30, "the database itself is idle"
    errors = browser.chart_series(browser.chart(page, "Server errors"))
    assert max(values(errors["gateway 5xx %"], end=window_start + 15 * 60)) < 5
    assert min(values(errors["gateway 5xx %"], start=saturated + 10 * 60)) > 50, "5xx is the majority"

    # 2. Zoom into the saturation: a drag across the pool chart from 15 min before to 6 min after.
    zoomed = zoom_overview(page, "Connection pool", saturated - 15 * 60, saturated + 6 * 60)
    raw = browser.url_range(page.url)
    pool = browser.chart_series(browser.chart(page, "Connection pool"))
    assert values(pool["used"])[0] < pool_max <= max(values(pool["used"])), "the climb to max is in view"
    route = page.locator("[data-testid=route-row][data-route='POST /api/v1/workflows']")
    assert float(route.locator("td").nth(2).inner_text()) > 5, "the zoomed RED table shows the 5xx"
    browser.screenshot(page, "overview")

    # 3. Logs, through the route's cross-link, keeping the zoomed range; then the failing creations.
    with page.expect_navigation(wait_until="load"):
        route.get_by_role("link", name="logs").click()
    browser.wait_for_charts(page)
    assert_range_kept(page, raw)
    assert 'http.route="/api/v1/workflows"' in page.get_by_label("Log query").input_value()
    query = (
        '{service="platform-api"} |= "request completed" | http.route="/api/v1/workflows"'
        ' | http.request.method="POST" | http.response.status_code=502'
    )
    total, lines = run_log_query(page, query)
    assert_range_kept(page, raw)
    api = browser.get_json(base, "/api/logs", query=query, **{"from": raw[0], "to": raw[1]})
    assert total == api["total"] > 0
    for line in lines:
        assert "502" in line and "/api/v1/workflows" in line, line
        assert zoomed[0] <= browser.epoch(TIMESTAMP.search(line).group()) <= zoomed[1], line
    detail = open_log_detail(page)
    assert field(detail, "http.response.status_code") == "502"
    trace_id = field(detail, "trace_id")
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    browser.screenshot(page, "logs")

    # 4. The trace of that line: the uniqueness SELECT, then the validation call hanging to its 5 s timeout.
    with page.expect_navigation(wait_until="load"):
        detail.get_by_role("link", name=trace_id).click()
    assert f"/traces/{trace_id}" in page.url
    assert_range_kept(page, raw)
    trace_url = page.url
    shown = spans(page)
    names = [s["name"] for s in shown]
    assert "SELECT workflows" in names and "POST validation-service" in names, names
    assert names.index("SELECT workflows") < names.index("POST validation-service")
    call = shown[names.index("POST validation-service")]
    assert call["error"] and 4990 <= call["ms"] <= 5100, call
    server = [s for s in shown if s["name"] == "POST /api/v1/workflows"]
    assert server and all(s["error"] for s in server), server
    assert field(open_span(page, "POST validation-service"), "status") == "error: timed out"
    browser.screenshot(page, "trace")

    # 5. Database, 5 minutes after the saturation: the pool's sessions idle in transaction since long ago.
    at = saturated + 5 * 60
    show_database_at(page, at, state="idle in transaction", sort="xact_age")
    summary = database_summary(page)
    assert at - 15 <= summary["snapshot"] <= at
    # Every connection the pool may open (its max, read from the overview) is held idle in transaction;
    # the server's max_connections is higher (it sizes for several app hosts).
    assert summary["counts"]["idle in transaction"] >= 0.95 * pool_max, summary
    assert summary["total"] <= summary["max_connections"]
    assert summary["counts"]["active"] < 10, "held, not working"
    rows = session_rows(page)
    assert len(rows) == summary["shown"] == summary["counts"]["idle in transaction"]
    assert {r["state"] for r in rows} == {"idle in transaction"}
    ages = [float(r["xact age"].removesuffix(" s")) for r in rows]
    assert ages == sorted(ages, reverse=True), "sorted oldest first"
    oldest_start = browser.epoch(rows[0]["xact_start"])
    assert oldest_start <= saturated - 10 * 60 and ages[0] >= 15 * 60, rows[0]
    uniqueness = sum("FROM workflows" in r["query"] for r in rows)
    assert uniqueness >= 0.9 * len(rows), "the leaked sessions all ran create_workflow's SELECT"
    api = browser.get_json(
        base,
        "/api/database/sessions",
        at=iso(at),
        state="idle in transaction",
        **{"from": raw[0], "to": raw[1]},
    )
    assert api["snapshot"] == summary["snapshot"] and len(api["sessions"]) == len(rows)
    browser.screenshot(page, "database")

    # 6. The code: the SELECT span's code link opens create_workflow at that line, inside the transaction.
    browser.goto(page, trace_url)
    relative, lineno = open_code_from_span(page, open_span(page, "SELECT workflows"))
    assert in_root_cause("connection-leak", relative, lineno), (relative, lineno)
    browser.screenshot(page, "code")

    # 7. What changed: the validation service's p99 in the metrics explorer jumps when the climb starts.
    degraded = window_start + 20 * 60
    expr = (
        "histogram_quantile(0.99, sum by (le) (rate("
        'http_client_request_duration_seconds_bucket{peer_service="validation-service"}[5m])))'
    )
    browser.goto(page, f"{base}/metrics?from={iso(window_start)}&to={iso(window_end)}")
    page.get_by_label("PromQL query").fill(expr)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Run").click()
    browser.wait_for_charts(page)
    graphed = browser.chart_series(page.locator("[data-figure]").first)
    assert len(graphed) == 1
    p99 = next(iter(graphed.values()))
    assert max(values(p99, end=degraded - 60)) < 2.5 < 4.5 <= max(values(p99, start=degraded))
    browser.screenshot(page, "metrics")

    # 8. Traces search: the failing workflow creations in the zoomed range.
    browser.goto(
        page,
        f"{base}/traces?service=platform-api&operation=POST+/api/v1/workflows&errors=1&from={raw[0]}&to={raw[1]}",
    )
    notice = page.locator("p.notice").first.inner_text()
    found = re.search(r"(\d+) of (\d+) matching traces", notice)
    assert found and int(found.group(1)) > 0, notice
    results = page.get_by_test_id("trace-results").locator("tbody tr").all_inner_texts()
    assert len(results) == int(found.group(1))
    assert all("POST /api/v1/workflows" in r for r in results)
    browser.screenshot(page, "traces")

    assert_no_problems(problems)


# -- cron-storm -----------------------------------------------------------------------------------
STORM_BRIEF = "Every hour on the hour the platform stalls for two to three minutes, then recovers."
HOURLY_JOBS = {
    "sync_tenant_data",
    "generate_usage_reports",
    "cleanup_expired_records",
    "send_activity_digests",
    "recompute_engagement_scores",
}


@pytest.fixture(scope="module")
def storm(datasets):
    with browser.serve(datasets["cron-storm"], STORM_BRIEF) as base:
        yield base, window(datasets["cron-storm"])


def in_storm(ts: float, minutes: float = 5) -> bool:
    return ts % 3600 <= minutes * 60


def test_cron_storm_walkthrough(storm, tab):
    base, (window_start, window_end) = storm
    page, problems = tab
    shown_start = max(window_start, window_end - 3 * 3600)  # the overview's default: the last 3 hours
    pending = points(base, "sum(db_client_connection_pending_requests)", shown_start, window_end)
    # Outside the storms a scrape can still catch one caller inside an uncontended checkout (tens of
    # microseconds); requests queue for the pool, tens of them, at hh:00-hh:05 only.
    waiting = [ts for ts, value in pending if value > 1]
    assert waiting and all(in_storm(ts) for ts in waiting), "requests wait for the pool at hh:00-hh:05 only"
    storms = sorted({ts - ts % 3600 for ts in waiting})
    assert len(storms) >= 2, storms
    hour = storms[1]

    # 1. Overview, last 3 hours: pool, database CPU and latency spike at the top of every hour, only then.
    browser.goto(page, base + "/")
    pool = browser.chart_series(browser.chart(page, "Connection pool"))
    pool_max = max(values(pool["max"]))
    used = pool["used"]
    for top in storms:
        assert max(values(used, top, top + 180)) == pool_max, f"pool not exhausted at {iso(top)}"
    assert max(y for x, y in used if y is not None and not in_storm(x)) < pool_max
    cpu = browser.chart_series(browser.chart(page, "CPU utilisation by host"))["db-1"]
    assert all(max(values(cpu, top, top + 180)) >= 90 for top in storms), "DB CPU saturated at hh:00"
    latency = browser.chart_series(browser.chart(page, "Latency (all routes)"))["p99"]
    quiet = sorted(y for x, y in latency if y is not None and not in_storm(x, 10))
    typical = quiet[len(quiet) // 2]
    assert all(max(values(latency, top, top + 300)) >= 10 * typical for top in storms), typical
    page.locator(".grid").scroll_into_view_if_needed()
    browser.screenshot(page, "overview")

    # 2. Zoom: a drag across the latency chart from 3 minutes before the storm to 6 after.
    zoomed = zoom_overview(page, "Latency (all routes)", hour - 180, hour + 360)
    raw = browser.url_range(page.url)
    route = page.locator("[data-testid=route-row][data-route='GET /api/v1/workflows']")
    p99 = route.locator("td").nth(5).inner_text()
    assert p99.endswith(" ms") and float(p99.removesuffix(" ms")) >= 5000, (
        "the zoomed RED table shows the stall"
    )
    gateway = browser.chart_series(browser.chart(page, "Server errors"))["gateway 5xx %"]
    assert max(values(gateway, hour - 180, hour - 15)) < 1 < 5 <= max(values(gateway, hour, hour + 300))
    pool = browser.chart_series(browser.chart(page, "Connection pool"))
    assert max(values(pool["pending"])) > 0 and max(values(pool["used"])) == pool_max

    # 3. Logs through the navigation link, same range: pool timeouts, all at the top of the hour.
    with page.expect_navigation(wait_until="load"):
        page.locator("header nav a", has_text="Logs").click()
    browser.wait_for_charts(page)
    assert_range_kept(page, raw)
    query = '{service="platform-api", level="error"} |= "QueuePool"'
    total, lines = run_log_query(page, query)
    assert_range_kept(page, raw)
    api = browser.get_json(base, "/api/logs", query=query, **{"from": raw[0], "to": raw[1]})
    assert total == api["total"] > 0
    for line in lines:
        moment = browser.epoch(TIMESTAMP.search(line).group())
        assert hour <= moment <= hour + 300 and zoomed[0] <= moment <= zoomed[1], line
    # The jobs themselves fail on the pool: open one failed job's line and its trace.
    total, lines = run_log_query(page, '{service="platform-api", level="error"} |= "job failed"')
    assert total > 0 and all("job failed" in line for line in lines)
    detail = open_log_detail(page)
    job = field(detail, "job.id")
    assert job in HOURLY_JOBS
    assert field(detail, "error.type") == "TimeoutError" and "QueuePool" in field(detail, "error.message")
    stack = detail.locator("a[href^='/code/']").all_inner_texts()
    assert "services/job_scheduler/jobs/fanout.py" in " ".join(stack), stack
    trace_id = field(detail, "trace_id")
    failed_job_logs = page.url

    # 4. The failed job's trace: one span per tenant, all started at once, each waiting for a connection.
    with page.expect_navigation(wait_until="load"):
        detail.get_by_role("link", name=trace_id).click()
    assert_range_kept(page, raw)
    expand_waterfall(page)
    shown = spans(page)
    tenants = [s for s in shown if s["name"] == f"{job} tenant"]
    assert len(tenants) >= 50, "the job fans out one task per tenant"
    timeouts = [s["ms"] for s in shown if s["name"] == "db.connection.acquire" and s["error"]]
    assert timeouts and all(9900 <= ms <= 10100 for ms in timeouts), "tasks hit the pool's 10 s timeout"
    assert sum(s["error"] for s in tenants) == len(timeouts), "each timed-out wait fails its tenant task"
    offsets = []
    tenant_rows = page.get_by_test_id("span").filter(has=page.locator(".wf-name", has_text=f"{job} tenant"))
    for row in tenant_rows.all()[:10]:
        row.locator(".wf-name").click()
        offsets.append(float(re.search(r"\(\+([\d.]+) ms\)", field(row, "start")).group(1)))
    assert max(offsets) - min(offsets) < 1000, "the tenant tasks start in parallel, not one after another"

    # 5. Database at hh:00:30: the pool's connections all in use, running the jobs' aggregates.
    at = hour + 30
    show_database_at(page, at, state="active")
    summary = database_summary(page)
    assert at - 15 <= summary["snapshot"] <= at
    assert summary["counts"]["active"] >= 0.75 * pool_max, summary
    assert summary["total"] >= 0.9 * pool_max
    rows = session_rows(page)
    assert len(rows) == summary["shown"] == summary["counts"]["active"]
    aggregates = sum("data_records" in r["query"] for r in rows)
    assert aggregates >= 0.6 * len(rows), "most active sessions run the jobs' aggregates over data_records"
    api = browser.get_json(
        base, "/api/database/sessions", at=iso(at), state="active", **{"from": raw[0], "to": raw[1]}
    )
    assert len(api["sessions"]) == len(rows)
    calm = browser.get_json(
        base,
        "/api/database/sessions",
        at=iso(hour + 1800),
        state="active",
        **{"from": iso(window_start), "to": iso(window_end)},
    )
    assert len(calm["sessions"]) < 0.1 * len(rows), "half an hour later the database is quiet"

    # 6. Jobs: five hourly jobs, all cron minute 0 without jitter, all fired at the storm's hh:00.
    with page.expect_navigation(wait_until="load"):
        page.locator("header nav a", has_text="Jobs").click()
    browser.wait_for_charts(page)
    assert_range_kept(page, raw)
    schedule = page.get_by_test_id("schedule")
    hourly = schedule.locator("tbody tr", has_text="cron[minute='0']")
    assert {row.locator("td").first.locator("a").inner_text() for row in hourly.all()} == HOURLY_JOBS
    assert {row.locator("td").nth(3).inner_text() for row in hourly.all()} == {"—"}, "no jitter"
    runs = page.get_by_test_id("runs").locator("tbody tr")
    fired = {}
    for row in runs.all():
        cells = row.locator("td").all_inner_texts()
        if cells[0] in HOURLY_JOBS:
            fired[cells[0]] = (browser.epoch(cells[1]), cells[5])
    assert set(fired) == HOURLY_JOBS and {when for when, _ in fired.values()} == {hour}, fired
    assert "error" in {outcome for _, outcome in fired.values()}
    browser.screenshot(page, "jobs")

    # 7. Code from a span: a successful hourly job's trace, a tenant task's statement, its code link.
    run = runs.filter(has=page.locator("td", has_text=re.compile(r"^generate_usage_reports$"))).first
    with page.expect_navigation(wait_until="load"):
        run.get_by_role("link", name="trace").click()
    assert_range_kept(page, raw)
    expand_waterfall(page)
    shown = spans(page)
    assert sum(s["name"] == "generate_usage_reports tenant" for s in shown) >= 50
    relative, _ = open_code_from_span(page, open_span(page, "INSERT usage_reports"))
    assert relative.startswith("platform_api/services/")

    # 8. The fan-out itself: the failed job's stack frame in for_each_tenant, one of the root causes.
    browser.goto(page, failed_job_logs)
    frame = open_log_detail(page).locator("a[href^='/code/']", has_text="fanout.py").first
    relative, lineno = frame.inner_text().split(":")
    with page.expect_navigation(wait_until="load"):
        frame.click()
    check_code_page(page, relative, int(lineno))
    assert in_root_cause("cron-storm", relative, int(lineno)), (relative, lineno)

    assert_no_problems(problems)
