"""The candidate's views over a real generated dataset: each page renders, bad input is a clear 4xx,
and nothing reaches beyond the dataset and the service's code."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from observability_ui.app import create_app
from obsim import scenario as scenarios

pytestmark = pytest.mark.slow

SECRET_WORDS = re.compile(
    "|".join(re.escape(s.id) for s in scenarios.load_all() if s.faulty)
    + r"|fix\.patch|ground.truth|scenario|INTERVIEW_GUIDE",
    re.I,
)


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
        "/code/",
        "/code/lib/database/transactions.py?line=59-76",
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
        ("/database?sort=drop", "unknown sort"),
        ("/database?min_age=-3", "negative"),
        ("/jobs?job=nope", "unknown job"),
    ],
)
def test_bad_input_is_a_clear_400(client, url, message):
    response = client.get(url)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_json_api_errors_are_4xx_json(client):
    response = client.get("/api/logs?query=%7B")
    assert response.status_code == 400 and "error" in response.json
    response = client.get("/api/database/sessions?from=yesterday")
    assert response.status_code == 400 and "cannot read" in response.json["error"]


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
    assert client.get("/traces/" + "0" * 32).status_code == 404


def test_database_view_shows_the_stuck_sessions(client):
    page = client.get("/database?state=idle%20in%20transaction").get_data(as_text=True)
    counts = re.search(r"idle in transaction: (\d+)", page)
    assert counts and int(counts.group(1)) >= 150
    assert "max_connections" in page
    # each session links to its application's logs and traces around the moment its transaction began
    for view in ("logs", "traces"):
        link = re.search(rf'href="(/{view}\?service=platform-api&amp;from=\d+&amp;to=\d+)"', page)
        assert link, view
        assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200


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
        [sys.executable, "-m", "obsim.cli", "serve", str(datasets["baseline"]), "--port", str(port)],
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
