"""Nothing a candidate can read names a fault, a scenario or the simulation behind the telemetry.

Candidates read `app_under_test/` and every dataset's telemetry (log records with their stack
traces, span names and exception events, metric names and labels, job declarations, database
sessions).  A word such as "leak" in a log line, a scenario id in a label, or a stack frame in the
simulator's own code would give the answer (or the stage machinery) away.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from observability_ui import releases
from obsim import scenario as scenarios
from obsim.dataset.schema import DATABASE_NAME
from tests.conftest import RUNS
from world import telemetry_sink as telemetry

REPO = Path(__file__).resolve().parent.parent
SCENARIO_IDS = [s.id for s in scenarios.load_all()]
# Words that name a fault or admit a plant; "storm" and the ids catch scenario names.
GIVEAWAY = re.compile(
    r"\b(bug(gy|s)?|leak(s|ed|y|ing)?|storm|poison(ed)?|inject(ed|ion)?|intentional(ly)?|deliberate(ly)?"
    r"|scenario|simulat(ed|or|ion)|on purpose|" + "|".join(re.escape(i) for i in SCENARIO_IDS) + r")\b",
    re.IGNORECASE,
)
# Where the service's stack frames may live in production: its code, its libraries, the stdlib.
DEPLOYED_FRAME = re.compile(r"^(/srv/platform-api/app_under_test/|/usr/local/lib/python3\.11/|<)")

# Everything a candidate can see, table by table (db_session_states: the database view).
CANDIDATE_TEXT = {
    "log records": "SELECT DISTINCT logger || ' ' || message || ' ' || attributes FROM logs",
    "span templates": "SELECT service || ' ' || name || ' ' || attributes FROM span_templates",
    "span events": "SELECT events FROM span_event_templates",
    "metrics": "SELECT m.name || ' ' || m.help || ' ' || s.labels FROM metric_series s JOIN metric_families m ON m.name = s.family",
    "jobs": "SELECT id || ' ' || name || ' ' || func FROM jobs UNION ALL SELECT DISTINCT coalesce(error, '') FROM job_runs",
    "database sessions": "SELECT usename || ' ' || application_name || ' ' || query FROM db_session_states",
}


def test_the_application_code_names_no_fault_or_scenario():
    hits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "app_under_test").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if GIVEAWAY.search(line) or re.search(r"\b(fixme|xxx|hack)\b", line, re.IGNORECASE)
    ]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("scenario", [s for s in scenarios.load_all() if s.deploy], ids=lambda s: s.id)
def test_a_deploys_compare_view_names_no_fault_or_scenario(scenario):
    """The code browser shows what a deploy changed (the release before it is the scenario's diff
    from the checkout): every line of it is code a candidate reads."""
    deploy = scenario.deploy
    patch = scenarios.previous_release(scenario).decode()
    compared = releases.compare(deploy.from_version, deploy.to_version, patch, str(REPO / "app_under_test"))
    hits = [line for f in compared.files for line in f.diff if GIVEAWAY.search(line)]
    assert compared.files and not hits, hits


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_no_telemetry_names_a_fault_a_scenario_or_the_simulator(datasets, run):
    with sqlite3.connect(datasets[run] / DATABASE_NAME) as db:
        for what, query in CANDIDATE_TEXT.items():
            found = {m.group(0) for (text,) in db.execute(query) for m in GIVEAWAY.finditer(text or "")}
            assert not found, f"{run}: {what} contain {sorted(found)}"
        frames = {
            frame
            for (text,) in db.execute("SELECT events FROM span_event_templates")
            for frame in re.findall(r'File \\"([^"\\]+)\\"', text)
        } | {
            frame
            for (text,) in db.execute("SELECT attributes FROM logs WHERE attributes LIKE '%error.stack%'")
            for frame in re.findall(r'"file":"([^"]+)"', text)
        }
    # A faulty run always fails with stack traces; a fixed one may run a whole window without one
    # (queue-backlog's fixed run meets no upstream error in its 40 minutes).
    _, fixed = RUNS[run]
    assert frames or fixed, f"{run}: no stack trace to check"
    foreign = sorted(frame for frame in frames if not DEPLOYED_FRAME.match(frame))
    assert not foreign, f"{run}: stack frames outside the deployed service: {foreign[:5]}"


def test_stack_traces_lose_the_engines_frames_and_keep_the_services():
    sim = str(REPO / "simulator") + "/"
    world = str(REPO / "world") + "/"
    app = str(REPO / "app_under_test") + "/"
    formatted = (
        "Traceback (most recent call last):\n"
        f'  File "{app}lib/http_client.py", line 62, in request\n'
        "    response = self._client.request(method, path)\n"
        "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        f'  File "{world}external_models.py", line 40, in behaviour_at\n'
        "    return self.healthy\n"
        f'  File "{sim}external_services.py", line 81, in handle_request\n'
        '    raise httpx.ReadTimeout("timed out", request=request)\n'
        "httpx.ReadTimeout: timed out\n"
    )
    stack = [
        {"file": f"{world}load.py", "line": 234, "function": "run"},
        {"file": f"{sim}job_runner.py", "line": 157, "function": "_execute"},
        {"file": f"{app}services/job_scheduler/jobs/runtime.py", "line": 39, "function": "run"},
    ]
    cleaned = telemetry.without_engine_frames({"exception.stacktrace": formatted, "error.stack": stack})
    assert cleaned["exception.stacktrace"] == (
        "Traceback (most recent call last):\n"
        f'  File "{app}lib/http_client.py", line 62, in request\n'
        "    response = self._client.request(method, path)\n"
        "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "httpx.ReadTimeout: timed out\n"
    )
    assert cleaned["error.stack"] == [stack[2]]
    deployed = telemetry.as_deployed(f"{app}lib/http_client.py", (str(REPO) + "/",))
    assert deployed == "/srv/platform-api/app_under_test/lib/http_client.py"


def _readme_deployment() -> dict[str, int]:
    """The gunicorn command and the pool size the service's README gives its operators."""
    readme = (REPO / "app_under_test" / "README.md").read_text()
    command = re.search(r"^gunicorn --workers (\d+) --threads (\d+) ", readme, re.MULTILINE)
    pool = re.search(r"^\| `DB_POOL_SIZE` / `DB_MAX_OVERFLOW` \| (\d+) / \d+ \|", readme, re.MULTILINE)
    assert command and pool, "the README no longer states the deployment as this test reads it"
    return {"workers": int(command[1]), "threads": int(command[2]), "pool": int(pool[1])}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_service_runs_as_its_readme_says(datasets, run):
    """A candidate compares the README's deployment with the startup logs: they must agree."""
    deployment = _readme_deployment()
    with sqlite3.connect(datasets[run] / DATABASE_NAME) as db:
        first_boot = db.execute(
            "SELECT host, attributes FROM logs WHERE message = 'service started'"
            " AND ts = (SELECT MIN(ts) FROM logs WHERE message = 'service started')"
        ).fetchall()
    assert first_boot, f"{run}: no startup record"
    per_host: dict[str, int] = {}
    for host, attributes in first_boot:
        per_host[host] = per_host.get(host, 0) + 1
        assert f'"web.threads":{deployment["threads"]}' in attributes, (run, attributes)
        assert f'"db.pool.size":{deployment["pool"]}' in attributes, (run, attributes)
    assert set(per_host.values()) == {deployment["workers"]}, (run, per_host)
