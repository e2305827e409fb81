"""Issue 19: an interview day over several scenarios, and a console that never mixes them.

Every console view of a session (hints, ground truth, figures, rubric, scorecard, comparison) uses
that session's own scenario, whichever server shows it; one server can run several scenarios, each
candidate reading their own session's dataset.  Hand-made datasets, one per scenario, each with its
own value of one metric, so a test can tell which dataset a candidate's request read; the scenarios
are real ones from the library (their hints, evidence and rubric differ).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from interview.scoring import Submission, score
from interview.scoring.evidence import evidence_seen
from interview.store import InterviewStore
from observability_ui.application import create_app
from obsim import scenario as scenarios
from obsim.scenario import Scenario
from obsim_cli.main import main
from tests.conftest import HANDMADE_START
from tests.interviewing import (
    CRON,
    LEAK,
    POOL_SIZE,
    PUBLIC,
    REDIS,
    console_of,
    joined,
    new_session,
    page,
    server,
    session_of,
    shows,
    small_dataset,
)


def group_of(home: str, scenario_id: str) -> str:
    """The console home's panel of one scenario's sessions."""
    return re.search(rf'data-scenario="{scenario_id}">(.*?)</div>', home, flags=re.DOTALL).group(1)


def test_two_servers_on_one_database_show_each_session_with_its_own_scenario(tmp_path, interviews, token):
    leak_server = server(tmp_path / "a", interviews, LEAK)
    cron_server = server(tmp_path / "b", interviews, CRON)
    leak_console, cron_console = console_of(leak_server, token), console_of(cron_server, token)
    ada_link = new_session(leak_console, "Ada", LEAK)
    bob_link = new_session(cron_console, "Bob", CRON)
    ada, bob = session_of(interviews, "Ada"), session_of(interviews, "Bob")

    home = page(leak_console, "/interviewer/")
    assert "Ada" in group_of(home, LEAK.id) and "Bob" not in group_of(home, LEAK.id)
    assert "Bob" in group_of(home, CRON.id) and shows(group_of(home, CRON.id), CRON.title)
    assert "not served by this server" in group_of(home, CRON.id)

    # Bob's session on the connection-leak server: cron-storm's hints, evidence and rubric, said so
    shown = page(leak_console, f"/interviewer/sessions/{bob}")
    assert shows(shown, CRON.title) and f"does not serve {CRON.id} (now" in shown
    assert all(shows(shown, hint.text) for hint in CRON.hints)
    assert not any(shows(shown, hint.text) for hint in LEAK.hints)
    assert f"went to 0 of the {len(CRON.ground_truth.evidence)} expected signals" in shown
    assert shows(shown, CRON.ground_truth.summary.strip()[:60]) and not shows(
        shown, LEAK.ground_truth.summary.strip()[:60]
    )
    card = leak_console.get(f"/interviewer/sessions/{bob}/scorecard.json").json
    assert card["scenario"]["id"] == CRON.id
    assert card["figures"]["evidence_total"] == len(CRON.ground_truth.evidence)
    # a hint released there is cron-storm's, and shows on its own server's timeline by its text
    hint = len(CRON.hints) - 1
    assert leak_console.post(f"/interviewer/sessions/{bob}/hint", data={"index": hint}).status_code == 302
    assert shows(page(cron_console, f"/interviewer/sessions/{bob}/live/timeline"), CRON.hints[hint].text)

    # each server's own session is shown as served, with nothing to say
    assert "scenario-problem" not in page(leak_console, f"/interviewer/sessions/{ada}")
    # candidates: each link opens only on the server running its scenario
    assert leak_server.test_client().get(bob_link.removeprefix(PUBLIC)).status_code == 404
    assert joined(cron_server, bob_link).get("/").status_code == 403  # in, waiting for the start
    assert joined(leak_server, ada_link).get("/").status_code == 403

    # the comparison is per scenario, on either server
    for console in (leak_console, cron_console):
        leak_rows = page(console, f"/interviewer/compare?scenario={LEAK.id}")
        cron_rows = page(console, f"/interviewer/compare?scenario={CRON.id}")
        assert "Ada" in leak_rows and "Bob" not in leak_rows
        assert "Bob" in cron_rows and "Ada" not in cron_rows


def test_a_session_this_checkout_cannot_serve_keeps_its_record_readable(tmp_path, interviews, token):
    app = server(tmp_path, interviews, LEAK)
    console = console_of(app, token)
    gone, _ = interviews.create_session("Cy", "retired-scenario", 7, 1800.0)
    interviews.start(gone)
    interviews.record(gone, "view", {"path": "/metrics", "args": {}, "status": 200, "bytes": 10})
    interviews.submit(gone, {"root_cause": "the retired cause"}, {"total": 42, "parts": [], "penalties": []})
    interviews.release_hint(gone, 0)

    home = page(console, "/interviewer/")
    assert "Cy" in group_of(home, "retired-scenario") and "not in this checkout" in home
    shown = page(console, f"/interviewer/sessions/{gone}")
    assert "does not know the scenario &#39;retired-scenario&#39;" in shown
    assert "the retired cause" in shown and "<strong>42</strong> / 100" in shown and ">Metrics</td>" in shown
    assert 'data-testid="hint"' not in shown and 'data-testid="figures"' not in shown
    assert 'data-testid="ground-truth"' not in shown and 'action="rubric"' not in shown
    refused = console.post(f"/interviewer/sessions/{gone}/hint", data={"index": "1"})
    assert refused.status_code == 409 and "retired-scenario" in refused.get_data(as_text=True)
    card = console.get(f"/interviewer/sessions/{gone}/scorecard.json").json
    assert card["scenario"] == {
        "id": "retired-scenario",
        "title": None,
        "version": None,
        "difficulty": None,
        "time_limit_minutes": None,
    }
    assert card["automatic"]["total"] == 42 and card["submission"] == {"root_cause": "the retired cause"}
    assert card["figures"] is None and card["hints"][0]["text"] is None
    assert [e["kind"] for e in card["timeline"]] == ["start", "view", "submission", "hint"]
    for fmt in ("md", "html"):
        shown = page(console, f"/interviewer/sessions/{gone}/scorecard.{fmt}")
        assert "this checkout does not have" in shown and "the retired cause" in shown and "hint #0" in shown
    cli_card = tmp_path / "card.md"
    database = str(interviews.engine.url)
    assert main(["interview", "--db", database, "scorecard", gone, "-o", str(cli_card)]) == 0
    assert "the retired cause" in cli_card.read_text()


def test_a_candidate_who_saw_other_data_than_served_now_is_flagged(tmp_path, interviews, token):
    app = server(tmp_path, interviews, LEAK)
    console = console_of(app, token)
    joined(app, new_session(console, "Ada", LEAK))
    ada = session_of(interviews, "Ada")
    assert "scenario-problem" not in page(console, f"/interviewer/sessions/{ada}")
    regenerated = server(tmp_path / "later", interviews, LEAK)  # same cache key: the same data
    assert "scenario-problem" not in page(console_of(regenerated, token), f"/interviewer/sessions/{ada}")
    changed = tmp_path / "changed"
    small_dataset(changed, LEAK)
    manifest = changed / LEAK.id / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f"key-{LEAK.id}", "key-new-code"))
    later = create_app(changed / LEAK.id, interviews=interviews, incident=LEAK, public_url=PUBLIC)
    shown = page(console_of(later, token), f"/interviewer/sessions/{ada}")
    assert "investigated another dataset" in shown


def test_one_server_runs_three_scenarios_each_candidate_on_their_own(tmp_path, interviews, token):
    app = server(tmp_path, interviews, LEAK, CRON, REDIS)
    console = console_of(app, token)
    candidates = {"Ada": LEAK, "Bob": CRON, "Cy": REDIS}
    clients = {
        name: joined(app, new_session(console, name, incident)) for name, incident in candidates.items()
    }

    for name, incident in candidates.items():
        session_id = session_of(interviews, name)
        assert interviews.get(session_id).scenario_id == incident.id
        join = interviews.events(session_id)[0]
        assert join.kind == "join" and join.detail["dataset"]["cache_key"] == f"key-{incident.id}"
        assert console.post(f"/interviewer/sessions/{session_id}/start").status_code == 302
        candidate = clients[name]
        described = candidate.get("/api/dataset").json
        assert described["brief"] == incident.brief.strip()
        value = candidate.get(
            "/api/metrics/query",
            query_string={"query": "db_client_connection_count", "at": str(HANDMADE_START + 300)},
        ).json
        assert [s["value"] for s in value["series"]] == [POOL_SIZE[incident.id]], name
        assert incident.brief.strip()[:40] in page(candidate, "/")
        submitted = candidate.post("/submit", data={"root_cause": f"{name}'s answer"})
        assert submitted.status_code == 200

    home = page(console, "/interviewer/")
    for name, incident in candidates.items():
        assert name in group_of(home, incident.id) and shows(home, incident.title)
        session_id = session_of(interviews, name)
        shown = page(console, f"/interviewer/sessions/{session_id}")
        others = [other for other in candidates.values() if other is not incident]
        assert shows(shown, incident.title) and all(shows(shown, hint.text) for hint in incident.hints)
        assert not any(shows(shown, hint.text) for other in others for hint in other.hints)
        stored = interviews.submissions(session_id)
        assert len(stored) == 1 and stored[0].body["root_cause"] == f"{name}'s answer"
        card = console.get(f"/interviewer/sessions/{session_id}/scorecard.json").json
        assert card["scenario"]["id"] == incident.id and card["dataset"]["cache_key"] == f"key-{incident.id}"
        assert card["automatic"]["total"] == stored[0].automatic_score["total"]
        assert card["figures"]["evidence_total"] == len(incident.ground_truth.evidence)
        assert card["interviewer"] is None and card["hints"] == []
        markdown = page(console, f"/interviewer/sessions/{session_id}/scorecard.md")
        assert incident.title in markdown and not any(other.title in markdown for other in others)
        compared = page(console, f"/interviewer/compare?scenario={incident.id}")
        assert compared.count('data-testid="compare-row"') == 1 and name in compared


def test_two_servers_with_different_scenarios_on_one_database_each_session_its_own(
    tmp_path, interviews, token
):
    """The day on two servers (as two processes: each its own store over one SQLite file), one
    running connection-leak and cron-storm, the other cron-storm and redis-keys-scan: every
    candidate investigates and submits on a server that runs their scenario, and both consoles show
    every session with its own scenario, score, scorecard and comparison, saying which they cannot
    serve."""
    url = str(interviews.engine.url)
    first = server(tmp_path / "first", InterviewStore(url), LEAK, CRON)
    second = server(tmp_path / "second", InterviewStore(url), CRON, REDIS)
    consoles = {"first": console_of(first, token), "second": console_of(second, token)}
    # name -> (scenario, the server their session is made and served on)
    day = {"Ada": (LEAK, first), "Bob": (CRON, first), "Cy": (REDIS, second), "Dee": (CRON, second)}
    for name, (incident, where) in day.items():
        console = consoles["first" if where is first else "second"]
        link = new_session(console, name, incident)
        other = second if where is first else first
        if incident is not CRON:  # a link opens only where its scenario is served
            assert other.test_client().get(link.removeprefix(PUBLIC)).status_code == 404
        candidate = joined(where, link)
        session_id = session_of(interviews, name)
        assert console.post(f"/interviewer/sessions/{session_id}/start").status_code == 302
        value = candidate.get(
            "/api/metrics/query",
            query_string={"query": "db_client_connection_count", "at": str(HANDMADE_START + 300)},
        ).json
        assert [s["value"] for s in value["series"]] == [POOL_SIZE[incident.id]], name
        stored = candidate.post(
            "/api/submissions", json={"root_cause": f"{name}'s answer", "evidence_views": ["metrics"]}
        )
        assert stored.status_code == 201, stored.json

    for console_name, console in consoles.items():
        serves = {LEAK.id, CRON.id} if console_name == "first" else {CRON.id, REDIS.id}
        home = page(console, "/interviewer/")
        for name, (incident, _) in day.items():
            group = group_of(home, incident.id)
            assert name in group and shows(group, incident.title), (console_name, name)
            assert ("not served by this server" in group) is (incident.id not in serves), (console_name, name)
            session_id = session_of(interviews, name)
            shown = page(console, f"/interviewer/sessions/{session_id}")
            others = {LEAK.id: LEAK, CRON.id: CRON, REDIS.id: REDIS}.values()
            assert shows(shown, incident.title) and all(shows(shown, hint.text) for hint in incident.hints)
            assert not any(
                shows(shown, h.text) for other in others if other is not incident for h in other.hints
            )
            assert (f"does not serve {incident.id} (now" in shown) is (incident.id not in serves)
            record = interviews.get(session_id)
            (submitted,) = interviews.submissions(session_id)
            looked = evidence_seen(incident, interviews.events(session_id))
            scored = score(
                incident, Submission.model_validate(submitted.body), {item.view for item, _ in looked}
            )
            assert submitted.automatic_score == scored.to_json(), "scored on the session's own scenario"
            card = console.get(f"/interviewer/sessions/{session_id}/scorecard.json").json
            assert card["scenario"]["id"] == record.scenario_id == incident.id
            assert card["dataset"]["cache_key"] == f"key-{incident.id}"
            assert card["automatic"]["total"] == submitted.automatic_score["total"]
            assert card["figures"]["evidence_total"] == len(incident.ground_truth.evidence)
        for incident in (LEAK, CRON, REDIS):
            compared = page(console, f"/interviewer/compare?scenario={incident.id}")
            names = sorted(name for name, (own, _) in day.items() if own is incident)
            assert compared.count('data-testid="compare-row"') == len(names), (console_name, incident.id)
            assert all(name in compared for name in names)
            assert not any(name in compared for name in day if name not in names)


def test_the_comparison_keeps_candidates_of_different_datasets_apart(tmp_path, interviews, token, capsys):
    first = server(tmp_path / "first", interviews, LEAK)
    joined(first, new_session(console_of(first, token), "Ada", LEAK))
    changed = tmp_path / "changed"
    small_dataset(changed, LEAK)
    manifest = changed / LEAK.id / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f"key-{LEAK.id}", "key-new-code"))
    later = create_app(changed / LEAK.id, interviews=interviews, incident=LEAK, public_url=PUBLIC)
    console = console_of(later, token)
    joined(later, new_session(console, "Bob", LEAK))

    compared = page(console, "/interviewer/compare")
    assert compared.count('data-testid="compare-group"') == 2
    assert compared.count('data-testid="compare-row"') == 2

    database = str(interviews.engine.url)
    assert main(["interview", "--db", database, "compare", LEAK.id, "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert sorted([row["candidate"] for row in group["rows"]] for group in groups) == [["Ada"], ["Bob"]]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty dataset cache of this test's own: which scenarios are ready is up to the test."""
    root = tmp_path / "cache"
    monkeypatch.setenv("OBSIM_CACHE_DIR", str(root))
    return root


def make_ready(incident: Scenario) -> Path:
    """Put a hand-made dataset where the cache keeps ``incident``'s, as generation would."""
    from obsim_cli import dataset_cache as cache

    key = cache.dataset_key(incident, incident.default_seed, None)
    return small_dataset(cache.cache_root() / "made" / key, incident, key).rename(cache.cache_root() / key)


def launched(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app ``obsim`` would serve for ``argv``, built as a server process builds it."""
    from observability_ui import serving

    platforms: list[serving.Platform] = []
    monkeypatch.setattr(serving, "serve", lambda platform, *_, **__: platforms.append(platform))
    assert main(argv) == 0
    return serving.build(platforms[0])


def test_obsim_run_without_a_scenario_serves_the_day_and_prepares_in_the_background(
    tmp_path, interviews, token, cache_dir, monkeypatch
):
    from obsim_cli import generate as generation

    make_ready(LEAK)
    released, asked = threading.Event(), []

    def slow_generation(incident: Scenario, **_: object) -> None:
        asked.append(incident.id)
        assert released.wait(30), "the test never let the generation finish"
        if incident.id == REDIS.id:
            raise generation.GenerationError("the simulation refused: no hourly spike")
        make_ready(incident)

    app = launched(["run", "--db", str(interviews.engine.url), "--public-url", PUBLIC], monkeypatch)
    monkeypatch.setattr(generation, "generate", slow_generation)
    console = console_of(app, token)
    assert interviews.sessions() == [], "a day's sessions are made in the console"

    home = page(console, "/interviewer/")
    rows = dict(
        re.findall(r'data-testid="day-scenario" data-scenario="([\w-]+)">(.*?)</tr>', home, re.DOTALL)
    )
    assert set(rows) == {s.id for s in scenarios.load_all() if s.ground_truth is not None}
    assert "<strong>ready</strong>" in rows[LEAK.id] and "not ready" in rows[CRON.id]
    assert f"{CRON.time_limit_minutes} min" in rows[CRON.id] and CRON.difficulty in rows[CRON.id]
    refused = console.post("/interviewer/sessions", data={"candidate": "Bob", "scenario": CRON.id})
    assert refused.status_code == 400 and interviews.sessions() == []
    early, _ = interviews.create_session("Eve", CRON.id, CRON.default_seed, 1080.0)  # from the CLI
    assert f"{CRON.id}&#39;s dataset is not ready" in page(console, f"/interviewer/sessions/{early}")

    for incident in (CRON, REDIS):  # answered at once, while the generations wait
        assert console.post("/interviewer/prepare", data={"scenario": incident.id}).status_code == 302
    home = page(console, "/interviewer/")
    assert "data-refresh-s=" in home and home.count("preparing for") == 2
    assert page(console, "/interviewer/compare?scenario=connection-leak")  # the server still answers
    released.set()
    for _ in range(100):
        if all(p.finished for p in app.extensions["obsim_interview_day"].preparations.values()):
            break
        time.sleep(0.05)
    assert sorted(asked) == sorted([CRON.id, REDIS.id])
    home = page(console, "/interviewer/")
    rows = dict(
        re.findall(r'data-testid="day-scenario" data-scenario="([\w-]+)">(.*?)</tr>', home, re.DOTALL)
    )
    assert "<strong>ready</strong>" in rows[CRON.id] and "data-refresh-s=" not in home
    assert "preparation failed: the simulation refused: no hourly spike" in rows[REDIS.id]

    bob = joined(app, new_session(console, "Bob", CRON))
    bob_id = session_of(interviews, "Bob")
    console.post(f"/interviewer/sessions/{bob_id}/start")
    answer = bob.get(
        "/api/metrics/query",
        query_string={"query": "db_client_connection_count", "at": str(HANDMADE_START + 300)},
    ).json
    assert "series" in answer, answer
    assert [s["value"] for s in answer["series"]] == [POOL_SIZE[CRON.id]]


def test_obsim_serve_over_several_datasets_is_one_interview_server(tmp_path, interviews, token, monkeypatch):
    directories = [str(small_dataset(tmp_path, incident)) for incident in (LEAK, CRON)]
    app = launched(
        ["serve", *directories, "--db", str(interviews.engine.url), "--public-url", PUBLIC], monkeypatch
    )
    console = console_of(app, token)
    for name, incident in (("Ada", LEAK), ("Bob", CRON)):
        candidate = joined(app, new_session(console, name, incident))
        console.post(f"/interviewer/sessions/{session_of(interviews, name)}/start")
        assert candidate.get("/api/dataset").json["brief"] == incident.brief.strip()
    assert main(["serve", directories[0], directories[0], "--db", str(interviews.engine.url)]) == 2


def test_metric_arrays_are_kept_per_dataset_within_a_memory_budget(tmp_path, interviews, token):
    from observability_ui.query.promql_store import held_bytes
    from observability_ui.request_context import METRIC_CACHE

    app = server(tmp_path, interviews, LEAK, CRON, REDIS)
    console = console_of(app, token)
    caches = app.extensions[METRIC_CACHE]
    candidates = {}
    for name, incident in (("Ada", LEAK), ("Bob", CRON), ("Cy", REDIS)):
        candidates[name] = joined(app, new_session(console, name, incident))
        console.post(f"/interviewer/sessions/{session_of(interviews, name)}/start")

    def pool_size(name: str) -> float:
        answer = (
            candidates[name]
            .get(
                "/api/metrics/query",
                query_string={"query": "db_client_connection_count", "at": str(HANDMADE_START + 300)},
            )
            .json
        )
        return answer["series"][0]["value"]

    assert pool_size("Ada") == POOL_SIZE[LEAK.id]
    ada_cache = caches.get(str(app.extensions["obsim_served_scenarios"][LEAK.id].dataset))
    one_dataset = held_bytes(ada_cache)
    assert one_dataset > 0, "Ada's query read her dataset's arrays into its cache"
    caches.budget_bytes = 2 * one_dataset  # room for two datasets' arrays
    assert pool_size("Bob") == POOL_SIZE[CRON.id]
    assert pool_size("Cy") == POOL_SIZE[REDIS.id]  # the third: Ada's, least recently used, is dropped
    again = caches.get(str(app.extensions["obsim_served_scenarios"][LEAK.id].dataset))
    assert again is not ada_cache and held_bytes(again) == 0
    assert pool_size("Ada") == POOL_SIZE[LEAK.id]  # read again from her own dataset
    assert pool_size("Bob") == POOL_SIZE[CRON.id] and pool_size("Cy") == POOL_SIZE[REDIS.id]


def test_a_dataset_gone_while_served_is_said_so_and_the_record_stays(tmp_path, interviews, token):
    app = server(tmp_path, interviews, LEAK)
    console = console_of(app, token)
    ada = joined(app, new_session(console, "Ada", LEAK))
    ada_id = session_of(interviews, "Ada")
    console.post(f"/interviewer/sessions/{ada_id}/start")
    assert ada.get("/api/dataset").status_code == 200
    shutil.rmtree(tmp_path / LEAK.id)  # the cache pruned under the server

    refused = ada.get("/api/dataset")
    assert refused.status_code == 503 and refused.json["reason"] == "not_served"
    assert "not available on this server right now" in refused.json["error"]
    shown = page(console, f"/interviewer/sessions/{ada_id}")
    assert f"does not serve {LEAK.id} (now" in shown and "Read the dataset" in shown
    assert "not served by this server" in group_of(page(console, "/interviewer/"), LEAK.id)
    assert all(shows(shown, hint.text) for hint in LEAK.hints)  # still its own scenario's
    assert console.get(f"/interviewer/sessions/{ada_id}/scorecard.json").json["scenario"]["id"] == LEAK.id


def test_in_a_browser_the_home_follows_a_preparation_but_never_reloads_over_a_half_filled_form(
    interviews, token, cache_dir, monkeypatch
):
    from obsim_cli import generate as generation
    from tests import browser

    browser.require_chromium()
    make_ready(LEAK)
    released = threading.Event()

    def slow_generation(incident: Scenario, **_: object) -> None:
        assert released.wait(60), "the test never let the generation finish"
        make_ready(incident)

    port = browser.free_port()
    base = f"http://127.0.0.1:{port}"
    app = launched(["run", "--db", str(interviews.engine.url), "--public-url", base], monkeypatch)
    monkeypatch.setattr(generation, "generate", slow_generation)
    with (
        browser.serve_app(app, port),
        browser.launch() as chromium,
        browser.open_page(chromium) as (
            tab,
            problems,
        ),
    ):
        browser.goto(tab, f"{base}/interviewer/login/{token}")
        cron = tab.locator("[data-testid=day-scenario]", has_text=CRON.title)
        offered = tab.locator("form[action$='/interviewer/sessions'] select[name=scenario] option")
        assert offered.filter(has_text=CRON.title).count() == 0
        with tab.expect_navigation():
            cron.locator("form[action$='/interviewer/prepare'] button[type=submit]").click()
        assert cron.locator("form").count() == 0, "under way: nothing to press"
        with tab.expect_navigation(timeout=20_000):  # untouched, the page follows the preparation
            pass
        tab.fill("form[action$='/interviewer/sessions'] input[name=candidate]", "Grace")
        tab.evaluate("window.stillThisPage = true")
        tab.wait_for_timeout(12_000)  # longer than the page's refresh period
        assert tab.evaluate("window.stillThisPage === true"), "the page reloaded over the typed name"
        assert tab.input_value("input[name=candidate]") == "Grace"

        released.set()
        tab.fill("input[name=candidate]", "")  # nothing typed any more: the page reloads again
        offered.filter(has_text=CRON.title).wait_for(state="attached", timeout=25_000)
        assert cron.locator("form").count() == 0 and offered.count() == 2
        assert problems.all() == []
