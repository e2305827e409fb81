"""The candidate's views over a real generated dataset: each page renders, bad input is a clear 4xx,
and nothing reaches beyond the dataset and the service's code."""

from __future__ import annotations

import html
import json
import math
import random
import re
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import url_for
from markupsafe import escape

from observability_ui.application import create_app
from observability_ui.query import promql
from observability_ui.request_context import dataset as request_dataset
from observability_ui.views import database
from observability_ui.views.logs import filter_links, with_filter
from observability_ui.views.metrics_common import SCRAPE_INTERVAL_S, series_name, store
from observability_ui.views.overview import PANELS, dashboard_series
from observability_ui.views.page import range_args
from observability_ui.views.traces import COLLAPSE_ABOVE
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.timerange import TimeRange

pytestmark = pytest.mark.slow

SECRET_WORDS = re.compile(
    "|".join(re.escape(s.id) for s in scenarios.load_all() if s.faulty)
    + r"|fix\.patch|ground.truth|scenario|INTERVIEW_GUIDE",
    re.I,
)


TYPO = "sum(rate(http_server_requst_duration_seconds_count[1m]))"
HANDMADE_RANGE = {"from": "2026-03-10T14:30:00Z", "to": "2026-03-10T14:45:00Z"}
HANDMADE_X_AXIS = ["2026-03-10 14:30:00", "2026-03-10 14:45:00"]
HANDMADE_X_AXIS_END = "2026-03-10 15:00:00"  # the hand-made hour's end: where a default range ends


@pytest.fixture(scope="module")
def handmade(handmade_dataset):
    app = create_app(handmade_dataset)
    app.testing = True
    return app.test_client()


def figures(page: str) -> list[dict]:
    """The plotly figures a page hands to the browser."""
    return [json.loads(html.unescape(raw)) for raw in re.findall(r"data-figure='([^']*)'", page)]


def test_a_series_is_named_as_prometheus_and_grafana_name_it():
    assert series_name({"__name__": "x", "state": "idle"}) == 'x{state="idle"}'
    assert series_name({"state": "idle", "pool": 'a "b"'}) == '{pool="a \\"b\\"", state="idle"}'
    assert series_name({"__name__": "x"}) == "x" and series_name({}) == "value"
    assert series_name({"http_route": "/a"}, "{http_route}") == "/a"
    assert series_name({"state": "idle"}, "{http_route}") == '{state="idle"}'  # a legend it cannot fill


def test_an_empty_graph_keeps_the_range_and_names_the_missing_metric(handmade):
    response = handmade.get("/metrics", query_string={"query": TYPO, **HANDMADE_RANGE})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    (figure,) = figures(page)
    assert figure["data"] == [] and figure["layout"]["xaxis"]["range"] == HANDMADE_X_AXIS  # not the year 2000
    assert [note["text"] for note in figure["layout"]["annotations"]] == ["No data"]
    hint = re.search(r'data-testid="no-series">(.*?)</div>', page, re.S)
    assert hint and html.unescape(hint.group(1)) == (
        "<p>no series named http_server_requst_duration_seconds_count in this recording; "
        "did you mean http_server_request_duration_seconds_count?</p>"
    )
    table = handmade.get("/metrics", query_string={"query": TYPO, "mode": "table"}).get_data(as_text=True)
    assert 'data-testid="no-series"' in table


def test_the_metrics_graph_names_series_with_double_quotes_over_the_range(handmade):
    page = handmade.get("/metrics", query_string={"query": "db_client_connection_count", **HANDMADE_RANGE})
    text = page.get_data(as_text=True)
    (figure,) = figures(text)
    assert [trace["name"] for trace in figure["data"]] == [
        'db_client_connection_count{db_client_connection_state="idle"}',
        'db_client_connection_count{db_client_connection_state="used"}',
    ]
    assert figure["layout"]["xaxis"]["range"] == HANDMADE_X_AXIS and "annotations" not in figure["layout"]
    assert str(escape('{db_client_connection_state="idle"}')) in text  # the table under the chart
    assert 'data-testid="no-series"' not in text
    assert "Labels of db_client_connection_count" in text  # the picker follows the queried metric


def test_every_overview_chart_spans_the_selected_range(handmade):
    charts = figures(handmade.get("/", query_string=HANDMADE_RANGE).get_data(as_text=True))
    assert len(charts) == len(PANELS)
    assert all(chart["layout"]["xaxis"]["range"] == HANDMADE_X_AXIS for chart in charts)
    pool = charts[[panel.title for panel in PANELS].index("Connection pool")]
    assert [trace["name"] for trace in pool["data"]] == ["idle", "used"]
    cpu = charts[[panel.title for panel in PANELS].index("CPU utilisation by host")]
    assert cpu["data"] == [] and cpu["layout"]["annotations"][-1]["text"] == "No data"


def _panels_sliced_and_evaluated(directory, seed: int) -> None:
    """Each overview panel's series over random ranges (and the edges of the recording), as the
    overview slices them from the whole recording's answer and as evaluating the range gives them."""
    app = create_app(directory)
    with Dataset.open(directory) as opened:
        low, high = opened.window()
    chance = random.Random(seed)
    ranges = [(low - 3600, low + 600), (high - 900, high + 900), (low, high)]
    ranges += [
        (start, start + chance.choice((60, 1200, 3600)))
        for start in (chance.uniform(low, high) for _ in range(6))
    ]
    with app.test_request_context("/"):
        for start, end in ranges:
            tr = TimeRange(start, end, "", "")
            first, last = math.ceil(start / 15) * 15, math.floor(end / 15) * 15
            for query in (query for panel in PANELS for query in panel.queries):
                evaluated = promql.query_range(store(), query.expr, first, last, SCRAPE_INTERVAL_S)
                assert dashboard_series(query.expr, tr) == evaluated, (query.expr, start, end)


@pytest.mark.parametrize("which", ["handmade", "connection-leak"])
def test_overview_panels_are_slices_of_the_whole_recording_exactly_as_evaluated(request, which):
    if which == "handmade":
        directory = request.getfixturevalue("handmade_dataset")
    else:
        directory = request.getfixturevalue("datasets")[which]
    _panels_sliced_and_evaluated(directory, seed=len(which))


def test_the_session_history_is_a_slice_of_the_whole_recordings_as_a_scan_of_the_range(datasets):
    """The Database page's charts slice the whole recording's counts per snapshot: the same points
    and groups as reading the range, at its edges, before and after the recording, and for an instant."""
    directory = datasets["connection-leak"]
    app = create_app(directory)
    with Dataset.open(directory) as opened:
        low, high = opened.window()
    chance = random.Random(4)
    with app.test_request_context("/database"):
        db = request_dataset().connection
        for _ in range(12):
            start = chance.uniform(low - 600, high)
            end = start + chance.choice((0.0, 15.0, 60.0, 1200.0, 3600.0, 20_000.0))
            for column in ("state", "application_name"):
                assert database.history(db, start, end, column) == database._history(db, start, end, column)


def test_the_log_detail_filter_links_are_the_urls_url_for_builds(handmade_dataset):
    """The +/- links are built without routing each through url_for (2,000 a page): same URLs."""
    app = create_app(handmade_dataset)
    odd = ['say "hi"', "C:\\temp\\x", "a&b=c#d", "é ü 中", "100% + 1", "", 503, None, "/api/v1/x?y=1"]
    with app.test_request_context("/logs"):
        for query in ('{level="error"} |= "a b"', "{}", '{service=~"plat.*"} | x="&"'):
            for tr in (
                TimeRange(0.0, 60.0, "now-1h", "now"),
                TimeRange(0.0, 60.0, "2026-03-10T14:30:00Z", ""),
            ):
                link = filter_links(query, tr)
                for value in odd:
                    for negate in (False, True):
                        built = url_for(
                            "logs.page", query=with_filter(query, "k.y", value, negate), **range_args(tr)
                        )
                        assert link("k.y", value, negate) == built, (query, value, negate)


@pytest.mark.parametrize("path", ["/logs", "/database", "/jobs"])
def test_the_charts_of_other_views_span_the_selected_range_even_when_empty(handmade, path):
    charts = figures(handmade.get(path, query_string=HANDMADE_RANGE).get_data(as_text=True))
    assert charts, path
    for chart in charts:  # the hand-made hour has no logs or job runs, and two session snapshots
        assert chart["layout"]["xaxis"]["range"] == HANDMADE_X_AXIS  # not the year 2000
        assert chart["data"] or chart["layout"]["annotations"][-1]["text"] == "No data"


@pytest.mark.parametrize(
    ("url", "typed", "message", "default", "kept"),
    [
        (
            "/metrics?from=yesterday&query=db_client_connection_count",
            ("yesterday", "now"),
            "cannot read 'yesterday'",
            "now-1h",  # every view's default: the whole recording, an hour
            ">db_client_connection_count</textarea>",
        ),
        (
            "/?from=banana&to=now-5m&deploys=hide",
            ("banana", "now-5m"),
            "cannot read 'banana'",
            "now-1h",
            "<h2>Operations over the selected range</h2>",
        ),
        (
            "/jobs?to=2020-01-01&outcome=error",
            ("now-1h", "2020-01-01"),
            "2020-01-01",
            "now-1h",
            "<option selected>error</option>",
        ),
    ],
)
def test_a_bad_range_keeps_the_metrics_overview_and_jobs_pages(handmade, url, typed, message, default, kept):
    response = handmade.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Cannot show this" not in page and "<h1>" in page
    for name, value in zip(("from", "to"), typed, strict=True):
        assert f'<input name="{name}" value="{value}" size="22" aria-invalid="true">' in page
    error = html.unescape(re.search(r'data-testid="range-error">(.*?)</div>', page, re.S).group(1))
    assert message in error and f"Showing {default} to now instead" in error
    charts = figures(page)
    assert charts and all(chart["layout"]["xaxis"]["range"][1] == HANDMADE_X_AXIS_END for chart in charts)
    assert kept in page  # the page itself, over the default range
    for name, values in parse_qs(urlsplit(url).query).items():  # the picker keeps the other inputs
        if name not in {"from", "to"}:
            assert f'<input type="hidden" name="{name}" value="{values[0]}">' in page, name


def test_a_promql_error_is_shown_by_the_shared_input_error_box(handmade):
    response = handmade.get("/metrics", query_string={"query": "sum(rate(x[5m])", **HANDMADE_RANGE})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    box = re.search(r'<div class="error-box" role="alert" data-testid="input-error">(.*?)</div>', page, re.S)
    assert box, "the PromQL error is not in the shared input-error box"
    assert html.unescape(box.group(1)) == (
        "<strong>Query error</strong>: unclosed left parenthesis\n  "
        '<pre class="mono">sum(rate(x[5m])\n   ^ position 3</pre>'
    )
    assert 'aria-label="PromQL query" aria-invalid="true"' in page and not figures(page)
    ok = handmade.get(
        "/metrics", query_string={"query": "predict_linear(db_client_connection_count[5m], 600)"}
    )
    assert ok.status_code == 200 and 'data-testid="input-error"' not in ok.get_data(as_text=True)


@pytest.fixture(scope="module")
def client(datasets):
    app = create_app(datasets["connection-leak"], brief="Many API endpoints time out.")
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize(
    "url",
    [
        "/logs",
        "/logs?query=%7Bservice%3D%22platform-api%22%7D%20%7C%3D%20%22QueuePool%22&from=now-1h",
        "/logs?level=warning&from=now-2h",
        "/traces",
        "/traces?service=platform-api&operation=POST%20/api/v1/workflows&errors=1&from=now-2h",
        "/database",
        "/database?state=idle%20in%20transaction&min_age=60&sort=xact_age",
        "/jobs?from=now-2h",
        "/alerts?from=now-2h",
        "/code/deploy/alerts/platform-api.rules.yml",
        "/code/",
        "/code/platform_api/lib/database/transactions.py?line=59-76",
        "/code-search?q=transaction",
    ],
)
def test_pages_render_without_giving_anything_away(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.data[:500]
    assert not SECRET_WORDS.search(response.get_data(as_text=True)), url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/logs?query=%7Bnope%3D%22x%22%7D", "unknown stream label"),
        ("/logs?from=now&to=now-1h", "ends"),
        ("/logs?from=1999-01-01T00:00:00Z&to=1999-01-02T00:00:00Z", "outside the recorded window"),
        ("/traces?min_duration=fast", "duration"),
        ("/traces?limit=100000", "limit"),
        ("/database?sort=drop", "sort: unknown value"),
        ("/database?min_age=-3", "min_age: must be between 0"),
        ("/jobs?job=nope", "unknown job"),
    ],
)
def test_bad_input_is_a_clear_400(client, url, message):
    response = client.get(url)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_misspelt_metric_is_named_with_the_closest_ones(client):
    page = client.get("/metrics", query_string={"query": TYPO, "from": "now-1h"}).get_data(as_text=True)
    assert "no series named http_server_requst_duration_seconds_count" in page
    assert "did you mean http_server_request_duration_seconds_count" in page
    pool = client.get(
        "/metrics", query_string={"query": "sum by (db_client_connection_state) (db_client_connection_count)"}
    )
    names = [trace["name"] for trace in figures(pool.get_data(as_text=True))[0]["data"]]
    assert names == ['{db_client_connection_state="idle"}', '{db_client_connection_state="used"}']


METRIC_LOGQL = 'sum by (level) (count_over_time({service="platform-api"}[5m]))'


@pytest.mark.parametrize(
    ("url", "field", "typed", "message"),
    [
        (
            "/logs?query=" + quote(METRIC_LOGQL + ")"),
            "query",
            METRIC_LOGQL + ")",
            "unexpected text after the metric query",
        ),
        ("/logs?query=%7Bnope%3D%22x%22%7D", "query", '{nope="x"}', "unknown stream label 'nope'"),
        (
            "/traces?service=platform-api&tags=http.response.status_code%3E%3D500",
            "tags",
            "http.response.status_code>=500",
            "a tag matches one exact value",
        ),
        ("/traces?operation=GET%20/x&min_duration=fast", "min_duration", "fast", "min_duration: cannot read"),
        (
            "/traces?tags=" + quote("db.statement=~SELECT.*"),
            "tags",
            "db.statement=~SELECT.*",
            "tags: cannot match 'db.statement=~SELECT.*': a tag matches one whole value exactly, not a pattern",
        ),
        (
            "/traces?errors=1&tags=" + quote("http.status_code=502"),
            "tags",
            "http.status_code=502",
            "no span in this recording has the tag 'http.status_code'; did you mean http.response.status_code?",
        ),
        ("/database?at=yesterday&min_age=5", "at", "yesterday", "at: cannot read 'yesterday' as a time"),
        ("/database?min_age=-3&at=now-5m", "min_age", "-3", "min_age: must be between 0 and 604800, not -3"),
    ],
)
def test_bad_input_is_shown_under_its_form_on_the_page_itself(client, url, field, typed, message):
    response = client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Cannot show this" not in page
    assert "<nav>" in page and 'class="timepicker"' in page
    typed_input = re.compile(rf'name="{field}" value="{re.escape(escape(typed))}"').search(
        page, page.index("<main>")
    )
    assert typed_input, f"the typed {field} is not kept in the page's form"
    # the message sits right under the form holding the input: nothing between them
    form_end = page.index("</form>", typed_input.end()) + len("</form>")
    error = re.compile(r'\s*<div class="error-box" role="alert" data-testid="input-error">(.*?)</div>', re.S)
    shown = error.match(page, form_end)
    assert shown, page[form_end : form_end + 300]
    assert message in html.unescape(shown.group(1))
    # the other inputs of the query string are kept as well
    for name, values in parse_qs(urlsplit(url).query).items():
        assert f'name="{name}" value="{escape(values[0])}"' in page, name


def test_a_bad_range_keeps_the_page_and_what_was_typed(client):
    response = client.get("/logs?from=yesterday&to=now&level=error")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<input name="from" value="yesterday" size="22" aria-invalid="true">' in page
    error = html.unescape(re.search(r'data-testid="range-error">(.*?)</div>', page, re.S).group(1))
    assert "cannot read 'yesterday' as a time" in error and "Showing now-105m to now instead" in error
    assert 'data-testid="log-count"' in page, "the lines of the default range are listed"
    assert "<option selected>error</option>" in page


def test_a_range_of_a_few_seconds_is_kept_and_its_chart_has_sub_second_buckets(client):
    page = client.get("/logs?from=2026-03-10T15:00:00Z&to=2026-03-10T15:00:03Z").get_data(as_text=True)
    assert "2026-03-10 15:00:00 UTC → 2026-03-10 15:00:03 UTC" in page
    assert 'data-testid="range-adjusted"' not in page
    starts = figures(page)[0]["data"][0]["x"]
    assert len(starts) == len(set(starts)) == 20 and starts[1] == "2026-03-10 15:00:00.150"
    tiny = client.get("/logs?from=2026-03-10T15:00:00.2Z&to=2026-03-10T15:00:00.4Z").get_data(as_text=True)
    assert "2026-03-10 14:59:59 UTC → 2026-03-10 15:00:00 UTC" in tiny
    assert re.search(r'data-testid="range-adjusted">\(widened to 1 s, the shortest range shown\)', tiny)


def test_the_route_table_of_a_range_under_a_minute_covers_the_minute_to_its_end(client):
    short = client.get("/api/overview?from=now-10s").json["routes"]
    assert short and short == client.get("/api/overview?from=now-1m").json["routes"]
    page = client.get("/?from=now-10s").get_data(as_text=True)
    assert "Operations over the minute up to the end of the range" in page


def test_each_route_row_links_to_that_operations_traces(client):
    """The table names each row as the application's server spans are named (method and route), and
    its link searches that operation: a route alone (``/api/v1/workflows``) names no span, and
    merged a creation's 502s into the same route's far more numerous reads."""
    page = client.get("/?from=now-30m").get_data(as_text=True)
    links = [html.unescape(link) for link in re.findall(r'<td><a href="(/traces\?[^"]+)">traces</a>', page)]
    rows = client.get("/api/overview?from=now-30m").json["routes"]
    assert links and len(links) == len(rows) == len({row["operation"] for row in rows})
    for link, row in zip(links, rows, strict=True):
        assert client.get(link).status_code == 200, link
        found = client.get("/api" + link).json["traces"]
        assert found, link
        operation = parse_qs(urlsplit(link).query)["operation"][0]
        assert operation == row["operation"] == f"{row['method']} {row['route']}"
        spans = client.get(f"/api/traces/{found[0]['trace_id']}").json["spans"]
        assert any(span["name"] == operation and span["service"] == "platform-api" for span in spans), link


def test_json_api_errors_are_4xx_json(client):
    response = client.get("/api/logs?query=%7B")
    assert response.status_code == 400 and "error" in response.json
    response = client.get("/api/database/sessions?from=yesterday")
    assert response.status_code == 400 and "cannot read" in response.json["error"]
    response = client.get("/api/logs?query=" + quote(METRIC_LOGQL))
    assert response.status_code == 400
    assert response.json["error"].startswith("sum(...) is a LogQL metric query")
    assert response.json["error"].endswith("(at position 0)")
    response = client.get("/api/traces?tags=http.response.status_code%3E%3D500")
    assert response.status_code == 400 and "a tag matches one exact value" in response.json["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/code/../scenarios/connection-leak/fix.patch",
        "/code/..%2F..%2FINTERVIEW_GUIDE.md",
        "/code/%2e%2e/README.md",
        "/code/lib/../../scenarios/cron-storm/scenario.toml",
        "/code//etc/passwd",
        "/code/C:%5Cwindows",
        "/code/lib/database/transactions.pyc",
    ],
)
def test_code_browser_refuses_path_tricks(client, path):
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 404
    assert "diff --git" not in response.get_data(as_text=True)


def test_trace_waterfall_links_code_and_logs(client):
    # a create that reached the database, then failed on the validation service (502)
    listing = client.get(
        "/traces?service=platform-api&operation=POST%20/api/v1/workflows"
        "&tags=http.response.status_code%3D502&from=now-2h"
    )
    trace_id = re.search(r"/traces/([0-9a-f]{32})", listing.get_data(as_text=True)).group(1)
    page = client.get(f"/traces/{trace_id}").get_data(as_text=True)
    assert "db.connection.acquire" in page
    assert re.search(r'href="/code/[^"]+\?line=\d+#L-\d+"', page)
    assert re.search(r'href="/logs\?query=[^"]*' + trace_id, page), "no link to the trace's logs"
    assert 'hidden="until-found"' not in page and 'aria-expanded="false"' not in page, (
        "a small trace opens whole"
    )
    assert client.get("/traces/" + "0" * 32).status_code == 404


def listed(page: str) -> list[tuple[str, float]]:
    """The trace search page's results: trace id and duration (ms), in the order listed."""
    rows = re.findall(r'<td class="num">([\d.]+) ms</td>.*?href="/traces/([0-9a-f]{32})', page, re.S)
    return [(trace_id, float(ms)) for ms, trace_id in rows]


def test_trace_search_sorts_longest_first_on_request(client):
    recent = client.get("/traces?errors=1&from=now-1h").get_data(as_text=True)
    longest = client.get("/traces?errors=1&sort=longest&from=now-1h").get_data(as_text=True)
    assert "sorted by most recent" in recent and '<option value="recent" selected>' in recent
    assert "sorted by longest first" in longest and '<option value="longest" selected>' in longest
    assert re.search(r"50 of (\d+) matching", recent).group(1) == re.search(
        r"50 of (\d+) matching", longest
    ).group(1)
    durations = [ms for _, ms in listed(longest)]
    assert len(durations) == 50 and durations == sorted(durations, reverse=True)
    # the failing scenario's newest errors are the gateway's instant 502s; longest first shows the timeouts
    assert max(ms for _, ms in listed(recent)) < 1 and durations[0] >= 29_000


def test_the_jaeger_error_tag_means_errors_only(client):
    ticked = client.get("/traces?errors=1&from=now-1h").get_data(as_text=True)
    tagged = client.get("/traces?tags=error%3Dtrue&from=now-1h").get_data(as_text=True)
    assert listed(tagged) == listed(ticked) and len(listed(tagged)) == 50
    count = re.compile(r"50 of (\d+) matching traces")
    assert count.search(tagged).group(1) == count.search(ticked).group(1)
    both = client.get("/api/traces?tags=error%3Dtrue%20http.response.status_code%3D502&from=now-1h").json
    assert (
        both["total"]
        == client.get("/api/traces?errors=1&tags=http.response.status_code%3D502&from=now-1h").json["total"]
        > 0
    )
    assert client.get("/api/traces?tags=error%3Dfalse").json == {
        "error": "tags: only error=true can be searched (traces with an error span), not 'error=false'"
    }


class Waterfall(HTMLParser):
    """The trace page's waterfall as nested: each span row, the span whose subtree block holds it
    and whether a block around it starts hidden; each toggle's state."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str | None, bool]] = []  # open divs: (subtree of which span, hidden)
        self.rows: dict[str, tuple[str | None, bool]] = {}
        self.toggles: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div":
            block = found.get("id") or ""
            owner = block.removeprefix("wf-under-") if block.startswith("wf-under-") else None
            self.blocks.append((owner, "hidden" in found))
        elif tag == "details" and "data-span-id" in found:
            owners = [owner for owner, _ in self.blocks if owner]
            hidden = any(hidden for _, hidden in self.blocks)
            self.rows[found["data-span-id"]] = (owners[-1] if owners else None, hidden)
        elif tag == "button" and found.get("data-testid") == "span-toggle":
            self.toggles[found["aria-controls"].removeprefix("wf-under-")] = found["aria-expanded"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self.blocks.pop()


def test_a_large_fan_out_opens_collapsed_with_every_span_under_its_parent(client):
    (biggest,) = client.get(
        "/api/traces?operation=job%20retry_failed_notifications&sort=most_spans&limit=1&from=now-24h"
    ).json["traces"]
    spans = client.get(f"/api/traces/{biggest['trace_id']}").json["spans"]
    assert len(spans) == biggest["spans"]
    parent = {s["span_id"]: s["parent_id"] for s in spans}
    children = Counter(parent.values())
    fans = {span for span, count in children.items() if span and count > COLLAPSE_ABOVE}
    assert fans, "the job fans out, one span per notification"
    collapsed = {span for span in children if span and (span in fans or parent[span] in fans)}

    def under_collapsed(span: str) -> bool:
        above = parent[span]
        return above is not None and (above in collapsed or under_collapsed(above))

    page = client.get(f"/traces/{biggest['trace_id']}").get_data(as_text=True)
    waterfall = Waterfall()
    waterfall.feed(page)
    assert {span: owner for span, (owner, _) in waterfall.rows.items()} == parent
    assert waterfall.toggles == {span: str(span not in collapsed).lower() for span in children if span}
    hidden = {span for span, (_, is_hidden) in waterfall.rows.items() if is_hidden}
    assert hidden == {span for span in parent if under_collapsed(span)} and len(hidden) > COLLAPSE_ABOVE
    assert f"{len(hidden)} of {len(spans)} spans start hidden in collapsed subtrees" in page
    for fan in fans:
        count = re.search(rf'aria-controls="wf-under-{fan}"[^>]*>(\d+)</button>', page)
        assert int(count.group(1)) == children[fan], "the toggle counts the children it hides"


def test_siblings_are_in_the_order_they_ran(client, datasets):
    # a pool checkout and the statement it made possible: the checkout's span id sorts after the
    # statement's, so an order by id alone would put the statement first
    with Dataset.open(datasets["connection-leak"]) as dataset:
        trace_id, acquire, statement = dataset.connection.execute(
            "SELECT a.trace_id, a.span_id, b.span_id FROM spans a JOIN spans b ON b.trace_id = a.trace_id"
            " AND b.parent_span_id = a.parent_span_id AND b.start >= a.start AND b.span_id < a.span_id"
            " WHERE a.name = 'db.connection.acquire' AND b.name LIKE 'SELECT %' LIMIT 1"
        ).fetchone()
    spans = client.get(f"/api/traces/{trace_id}").json["spans"]
    order = [s["span_id"] for s in spans]
    assert order.index(acquire) < order.index(statement)
    by_parent: dict[str | None, list[dict]] = {}
    for span in spans:
        by_parent.setdefault(span["parent_id"], []).append(span)
    for siblings in by_parent.values():
        keys = [(s["start"], s["duration"]) for s in siblings]
        assert keys == sorted(keys), "siblings in start order, those starting together by end"
    page = client.get(f"/traces/{trace_id}").get_data(as_text=True)
    assert page.index(f'data-span-id="{acquire}"') < page.index(f'data-span-id="{statement}"')


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _under(children: dict[str | None, list[dict]], span_id: str) -> list[dict]:
    """Every span below ``span_id`` in the trace whose spans are listed under their parent's id."""
    return [d for child in children.get(span_id, []) for d in (child, *_under(children, child["span_id"]))]


def test_a_trace_page_counts_spans_and_errors_as_the_trace_list_does(client):
    """The page's totals are the list's figures for the whole trace; a row's badge counts what is
    below it, itself left out, and says so (a failing request's root once read "4 spans · 2 failed"
    beside a list saying 5 spans, 3 errors)."""
    failing = client.get(
        "/api/traces?operation=POST%20/api/v1/workflows&errors=1&sort=most_spans&limit=1&from=now-2h"
    ).json["traces"]
    (fan_out,) = client.get(
        "/api/traces?operation=job%20retry_failed_notifications&sort=most_spans&limit=1&from=now-24h"
    ).json["traces"]
    badges = 0
    for row in [*failing, fan_out]:
        page = client.get(f"/traces/{row['trace_id']}").get_data(as_text=True)
        totals = re.search(r'data-testid="trace-totals">(.*?)</span></span>', page).group(1)
        assert _text(totals) == f"{_counted(row['spans'], 'span')} · {_counted(row['errors'], 'error')}"
        spans = client.get(f"/api/traces/{row['trace_id']}").json["spans"]
        children: dict[str | None, list[dict]] = {}
        for span in spans:
            children.setdefault(span["parent_id"], []).append(span)
        for row_html in page.split('data-testid="span" data-span-id="')[1:]:
            span_id = row_html[:16]
            badge = re.search(
                r'data-testid="hidden-below">(.*?)</span>\s*</div>', row_html.split("wf-bar-cell")[0]
            )
            below = _under(children, span_id)
            failed = sum(d["status"] == "error" for d in below)
            if len(below) > len(children.get(span_id, [])) or failed:
                expected = f"{_counted(len(below), 'span')} below"
                expected += f" · {_counted(failed, 'error')}" if failed else ""
                assert badge is not None and _text(badge.group(1)) == expected, span_id
                badges += 1
            else:
                assert badge is None
    root = failing[0]
    assert root["errors"] >= 2 and root["spans"] > 2, "a failing request: the root and spans under it failed"
    assert badges >= 2


def test_database_view_shows_the_stuck_sessions(client):
    page = client.get("/database?state=idle%20in%20transaction").get_data(as_text=True)
    counts = re.search(r"idle in transaction: (\d+)", page)
    assert counts and int(counts.group(1)) >= 150
    assert "max_connections" in page


def test_the_database_page_shows_who_blocks_whom_at_the_instant(handmade):
    """At 14:30 of the hand-made hour pid 101, idle in its transaction, holds up 102, and 103 and 104
    queue behind 102: one tree whatever the table's filters, each pid linking to its row when shown."""
    response = handmade.get("/database", query_string={"at": "2026-03-10T14:30:00Z", "state": "active"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.findall(r'data-testid="blocking-tree" data-pid="(\d+)"', page) == ["101"]
    tree = page.split('data-testid="blocking-tree"')[1].split("<h2>Sessions</h2>")[0]
    assert 'data-testid="blocker-state">idle in transaction<' in tree and "transaction 40.0 s" in tree
    assert '<span data-testid="waiter-count">3</span> sessions waiting' in tree
    assert "FOR UPDATE" in re.search(r'data-testid="blocker-query">([^<]*)<', tree).group(1)
    waiters = re.findall(r'data-testid="waiter" data-pid="(\d+)" data-depth="(\d+)"', tree)
    assert waiters == [("102", "1"), ("103", "2"), ("104", "2")]
    rows = {
        pid: re.sub(r"\s+", " ", cells)
        for pid, cells in re.findall(r'data-testid="waiter" data-pid="(\d+)"(.*?)</tr>', tree, re.S)
    }
    assert "Lock:transactionid" in rows["102"] and "30.0 s" in rows["102"]
    assert "Lock:tuple" in rows["104"] and "5.0 s" in rows["104"] and "UPDATE users" in rows["104"]
    # The sessions table (the filter shows 102-104): blocked_by links to a shown blocker's row only.
    blocked_by = dict(
        re.findall(r'<tr id="session-(\d+)">.*?data-testid="blocked-by">(.*?)</td>', page, re.S)
    )
    assert blocked_by == {
        "102": "101",
        "103": '<a href="#session-102">102</a>',
        "104": '<a href="#session-102">102</a>, <a href="#session-103">103</a>',
    }
    assert not re.search(r"bug|culprit|root cause|simulat", page, re.I) and not SECRET_WORDS.search(page)

    quiet = handmade.get("/database", query_string={"at": "2026-03-10T14:45:00Z"}).get_data(as_text=True)
    assert "No session waits on another's locks at this instant." in quiet
    assert "blocking-tree" not in quiet


def test_a_session_links_to_the_seconds_around_its_transaction_start(client, datasets):
    page = client.get("/database?state=idle%20in%20transaction&at=2026-03-10T15:00:00Z").get_data(
        as_text=True
    )
    pid, logs, traces = (
        html.unescape(part)
        for part in re.search(
            r'<td class="num">(\d+)</td>\s*<td>platform-api<div class="muted">\s*'
            r'<a [^>]*href="([^"]+)">logs</a>\s*<a [^>]*href="([^"]+)">traces</a>',
            page,
        ).groups()
    )
    with Dataset.open(datasets["connection-leak"]) as dataset:
        began, trace_id = dataset.connection.execute(
            # a transaction starts with its first statement, as PostgreSQL's xact_start does
            "SELECT s.xact_start, a.trace_id FROM db_sessions s JOIN spans a ON a.start = s.xact_start"
            " WHERE s.pid = ? AND s.ts <= ? ORDER BY s.ts DESC LIMIT 1",
            (int(pid), datetime(2026, 3, 10, 15, tzinfo=UTC).timestamp()),
        ).fetchone()
    for link in (logs, traces):
        query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", query["from"]), "readable UTC"
        start, end = (datetime.fromisoformat(query[key]).timestamp() for key in ("from", "to"))
        assert start <= began - 2 and began + 2 <= end <= start + 6, (began, query)
        opened = client.get(link).get_data(as_text=True)
        assert f'<input name="from" value="{query["from"]}" size="22">' in opened
    assert trace_id in client.get(traces).get_data(as_text=True), "the request that began it is listed"


def test_logs_page_says_how_many_of_how_many(client):
    page = client.get("/logs?from=now-1h").get_data(as_text=True)
    shown = re.search(r"1–(\d+) of (\d+) matching lines shown", page)
    assert shown and int(shown.group(1)) == 100 and int(shown.group(2)) > 100
    older = client.get("/logs?from=now-1h&offset=100").get_data(as_text=True)
    assert "101–200 of" in older


def test_obsim_serve_answers_over_real_http(datasets):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "obsim_cli.main", "serve", str(datasets["baseline"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        assert "Schedule" in body and "sync_tenant_data" in body
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_overview_marks_the_deploys_inside_the_range(datasets, client):
    app = create_app(datasets["n-plus-one-deploy"], brief="The workflows page is slow.")
    app.testing = True
    deployed = app.test_client()
    page = deployed.get("/?from=now-1h").get_data(as_text=True)
    assert "deploy 4.19.0" in page  # the marker in every chart's figure
    assert "2026-04-14 13:52:15 UTC" in page  # the first scrape that saw the new version
    hidden = deployed.get("/?from=now-1h&deploys=hide").get_data(as_text=True)
    assert "deploy 4.19.0" not in hidden and 'data-testid="deploys"' in hidden
    assert deployed.get("/api/overview?from=now-1h").json["deploys"] == [
        {"at": datetime(2026, 4, 14, 13, 52, 15, tzinfo=UTC).timestamp(), "version": "4.19.0"}
    ]
    assert deployed.get("/api/overview?from=now-10m").json["deploys"] == []  # it began before the range
    assert client.get("/api/overview").json["deploys"] == []
    assert 'data-testid="deploys"' not in client.get("/").get_data(as_text=True)
