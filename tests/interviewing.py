"""What the interview tests share: hand-made datasets one per scenario (each with its own value of
one metric, so a test can tell which dataset a candidate's request read), interview servers over
them, the interviewer's console and candidates who joined by their link, all through Flask's test
client and a real interviews database."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from interview.store import InterviewStore
from observability_ui.application import create_app
from observability_ui.candidate_session import Served
from obsim import scenario as scenarios
from obsim.dataset.writer import DatasetWriter
from obsim.scenario import Scenario
from tests.conftest import HANDMADE_START

PUBLIC = "http://interviews.test:8123"
LEAK, CRON, REDIS = (scenarios.load(name) for name in ("connection-leak", "cron-storm", "redis-keys-scan"))
#: the value of the one metric in each scenario's hand-made dataset
POOL_SIZE = {LEAK.id: 11.0, CRON.id: 22.0, REDIS.id: 33.0}


def small_dataset(directory: Path, incident: Scenario, cache_key: str | None = None) -> Path:
    """Ten minutes of one gauge whose value names the scenario, with the manifest's identity."""
    writer = DatasetWriter(directory / incident.id)
    sid = writer.series_id(
        "db_client_connection_count", "gauge", "connections", "db_client_connection_count", {}
    )
    writer.add_samples((sid, HANDMADE_START + 15 * i, POOL_SIZE[incident.id]) for i in range(41))
    return writer.finish(
        {
            "scenario": incident.id,
            "scenario_version": incident.version,
            "seed": incident.default_seed,
            "code_hash": f"code-{incident.id}",
            "cache_key": cache_key or f"key-{incident.id}",
            "window_start": HANDMADE_START,
            "window_end": HANDMADE_START + 600,
        }
    )


def server(tmp_path: Path, interviews: InterviewStore, *incidents: Scenario) -> Flask:
    """One interview server running ``incidents``, each over its own hand-made dataset."""
    served = [Served(incident, small_dataset(tmp_path, incident)) for incident in incidents]
    first, *more = served
    return create_app(
        first.dataset,
        first.scenario.brief,
        interviews=interviews,
        incident=first.scenario,
        public_url=PUBLIC,
        more_incidents=more,
    )


def console_of(app: Flask, token: str) -> FlaskClient:
    """The interviewer's browser, the answer revealed (these tests read hints, ground truth, rubric
    and scenario ids; what a page safe to share leaves out is tests/test_console_sharing.py's)."""
    client = app.test_client()
    assert client.get(f"/interviewer/login/{token}").status_code == 302
    assert client.post("/interviewer/reveal", data={"reveal": "yes"}).status_code == 303
    return client


def new_session(console: FlaskClient, name: str, incident: Scenario) -> str:
    """The candidate link the console hands out for a new session on ``incident``."""
    created = console.post("/interviewer/sessions", data={"candidate": name, "scenario": incident.id})
    assert created.status_code == 303
    page = console.get(created.headers["Location"])
    assert page.status_code == 200
    return re.search(r"<code class=\"mono\">([^<]+)</code>", page.get_data(as_text=True)).group(1)


def session_of(interviews: InterviewStore, name: str) -> str:
    return next(s.id for s in interviews.sessions() if s.candidate == name)


def joined(app: Flask, link: str) -> FlaskClient:
    client = app.test_client()
    assert (
        client.post(link.removeprefix(PUBLIC), headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    )
    return client


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def shows(html: str, text: str) -> bool:
    """Whether the page shows ``text`` (as the templates escape it)."""
    return str(escape(text)) in html
