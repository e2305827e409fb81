"""The Alerts view: the service's alerting rules, evaluated with Prometheus's semantics over a recording.

``for:`` and ``keep_firing_for:`` are checked on a hand-made recording whose one gauge switches at
known moments, so every pending, firing and resolved time is exact; the service's own rule file is
loaded and run through the PromQL engine; and each faulty incident's brief is held to its first
line: the alert it quotes is one of the rules, has the severity the line says, and fires in the
minute the line gives on that incident's recording.  The control recording pages no one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from observability_ui import alert_rules
from observability_ui.application import create_app
from observability_ui.query import promql
from observability_ui.views.alerts import RULES_CONFIG
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter
from tests.conftest import HANDMADE_START
from tests.test_giveaways import GIVEAWAY

START = HANDMADE_START  # 14:00:00 UTC
MINUTE = 60.0
# The gauge's value per minute of the hour: on (10) or off (0).  Scraped every 15 s.
ON_MINUTES = {*range(10, 20), 30, 31, 40, 41, 43, *range(50, 61)}
# A brief's first line: which alert woke someone up, when, and how (page or ticket).
PAGE_LINE = re.compile(r"^(PAGE|TICKET) (\d\d):(\d\d) UTC — (\w+): ")


@pytest.fixture(scope="module")
def switching_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour of one gauge, ``work_queue_depth{host_name="app-1"}``, 10 in the minutes of
    ``ON_MINUTES`` and 0 otherwise, written by the real dataset writer."""
    writer = DatasetWriter(tmp_path_factory.mktemp("switching") / "dataset")
    sid = writer.series_id(
        "work_queue_depth", "gauge", "Items waiting.", "work_queue_depth", {"host_name": "app-1"}
    )
    scrapes = range(4 * 60 + 1)
    writer.add_samples((sid, START + 15 * i, 10.0 if (15 * i) // 60 in ON_MINUTES else 0.0) for i in scrapes)
    return writer.finish({"scenario": "hand-made", "window_start": START, "window_end": START + 3600})


def _history(dataset_dir: Path, rule_text: str) -> alert_rules.RuleHistory:
    (rule,) = alert_rules.parse_rules(rule_text, "test.rules.yml")
    with Dataset.open(dataset_dir) as dataset:
        return alert_rules.evaluate(rule, promql.MetricStore(dataset), dataset.window())


def _at(minute: float) -> float:
    return START + minute * MINUTE


def _rule(extra: str) -> str:
    return (
        "groups:\n  - name: queue\n    interval: 30s\n    rules:\n"
        "      - alert: QueueDeep\n        expr: max by (host_name) (work_queue_depth) > 5\n" + extra
    )


def test_for_holds_an_alert_pending_then_fires_and_resolves_at_exact_evaluations(switching_dataset):
    history = _history(
        switching_dataset,
        _rule(
            "        for: 5m\n        labels:\n          severity: page\n"
            "        annotations:\n          summary: 'queue on {{ $labels.host_name }} at {{ $value }}'\n"
        ),
    )
    got = [(i.active_at, i.fired_at, i.ended_at) for i in history.instances]
    assert got == [
        (_at(10), _at(15), _at(20)),  # true for 10 minutes: pending 5, firing 5, resolved when false
        (_at(30), None, _at(32)),  # true for 2 minutes: pending, then dropped without firing
        (_at(40), None, _at(42)),  # a gap of one minute starts the count again
        (_at(43), None, _at(44)),
        (_at(50), _at(55), None),  # still firing at the end of the recording
    ]
    assert history.instances[0].labels == {"host_name": "app-1", "severity": "page", "alertname": "QueueDeep"}
    assert [history.state_at(_at(m)) for m in (9.5, 10, 14.5, 15, 19.5, 20, 31, 56)] == [
        "inactive",
        "pending",
        "pending",
        "firing",
        "firing",
        "inactive",
        "pending",
        "firing",
    ]
    assert history.evaluations[0] == START and history.evaluations[1] - history.evaluations[0] == 30
    assert alert_rules.expand(history.rule.annotations["summary"], history.instances[0].labels, 10.0) == (
        "queue on app-1 at 10"
    )


def test_without_for_an_alert_fires_at_once_and_keep_firing_for_bridges_gaps(switching_dataset):
    history = _history(switching_dataset, _rule("        keep_firing_for: 3m\n"))
    got = [(i.active_at, i.fired_at, i.ended_at) for i in history.instances]
    assert got == [
        (_at(10), _at(10), _at(23)),  # resolved once it has been false for 3 minutes
        (_at(30), _at(30), _at(35)),
        (_at(40), _at(40), _at(47)),  # the gaps at 42 and 44 are shorter than 3 minutes: one alert
        (_at(50), _at(50), None),
    ]


def test_a_rule_file_the_engine_cannot_evaluate_is_refused_with_the_rule_named():
    with pytest.raises(alert_rules.RuleError, match=r"QueueDeep.*for: '5 minutes'"):
        alert_rules.parse_rules(_rule("        for: 5 minutes\n"), "x.rules.yml")
    with pytest.raises(alert_rules.RuleError, match=r"QueueDeep.*unknown field\(s\) severity"):
        alert_rules.parse_rules(_rule("        severity: page\n"), "x.rules.yml")
    with pytest.raises(alert_rules.RuleError, match=r"QueueDeep.*summary.*not supported"):
        alert_rules.parse_rules(
            _rule("        annotations:\n          summary: '{{ $value | title }}'\n"), "x"
        )
    with pytest.raises(alert_rules.RuleError, match=r"QueueDeep.*expr"):
        alert_rules.parse_rules(_rule("").replace("> 5", "> > 5"), "x.rules.yml")


def test_values_read_as_prometheus_humanizes_them():
    assert [alert_rules.format_duration(v) for v in (0, 30, 120, 5400, 0.5)] == [
        "0s",
        "30s",
        "2m",
        "1h30m",
        "500ms",
    ]
    assert [alert_rules.humanize(v) for v in (0, 1234, 0.0123, 2.5e6)] == ["0", "1.234k", "12.3m", "2.5M"]
    assert [alert_rules.humanize_duration(v) for v in (0, 0.25, 2.5, 90, 3725, 90061)] == [
        "0s",
        "250ms",
        "2.5s",
        "1m 30s",
        "1h 2m 5s",
        "1d 1h 1m 1s",
    ]


def test_the_services_rules_load_and_every_expression_runs_on_the_engine(handmade_dataset):
    rules = alert_rules.load_rules()
    assert len({rule.name for rule in rules}) == len(rules) >= 10
    assert {rule.severity for rule in rules} == {"page", "ticket"}
    assert all(rule.annotations.get("summary") and rule.annotations.get("description") for rule in rules)
    text = (alert_rules.RULES_DIR / "platform-api.rules.yml").read_text()
    assert not GIVEAWAY.search(text), GIVEAWAY.search(text)
    with Dataset.open(handmade_dataset) as dataset:
        store = promql.MetricStore(dataset)
        for rule in rules:
            assert text.splitlines()[rule.line - 1].strip() == f"- alert: {rule.name}"
            alert_rules.evaluate(rule, store, dataset.window())  # an unsupported function raises here


def test_every_metric_a_rule_reads_is_recorded(datasets):
    """A misspelt name would leave its rule silent forever; Redis is only there when sessions use it."""
    recorded: set[str] = set()
    for run in ("baseline", "redis-keys-scan"):
        with Dataset.open(datasets[run]) as dataset:
            recorded |= set(promql.MetricStore(dataset).metric_names())
    missing = {
        rule.name: sorted(set(promql.selected_names(promql.parse(rule.expr))) - recorded)
        for rule in alert_rules.load_rules()
    }
    assert not any(missing.values()), missing


def _paging_line(scenario: scenarios.Scenario) -> tuple[str, float, str]:
    """The alert a brief's first line quotes, the moment it says the alert went out, and how."""
    match = PAGE_LINE.match(scenario.brief.strip())
    assert match, f"{scenario.id}: the brief must start with 'PAGE|TICKET HH:MM UTC — AlertName: '"
    how, hour, minute, name = match.groups()
    day = scenario.window.start.astimezone(UTC).date()
    moment = datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=UTC)
    return name, moment.timestamp(), how.lower()


FAULTY = sorted(s.id for s in scenarios.load_all() if s.faulty)


@pytest.mark.parametrize("scenario_id", FAULTY)
def test_the_alert_a_brief_quotes_fires_when_the_brief_says(datasets, scenario_id):
    name, moment, _ = _paging_line(scenarios.load(scenario_id))
    (rule,) = [rule for rule in alert_rules.load_rules() if rule.name == name]
    with Dataset.open(datasets[scenario_id]) as dataset:
        history = alert_rules.evaluate(rule, promql.MetricStore(dataset), dataset.window())
    fired = [i.fired_at for i in history.instances if i.fired_at is not None]
    stated = datetime.fromtimestamp(moment, UTC).strftime("%H:%M")
    in_minute = [t for t in fired if moment <= t < moment + MINUTE]
    assert in_minute, f"{scenario_id}: {name} does not fire at {stated}; it fires at " + ", ".join(
        datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in fired
    )


def test_the_quiet_morning_pages_no_one(datasets):
    with Dataset.open(datasets["baseline"]) as dataset:
        store = promql.MetricStore(dataset)
        paged = {
            rule.name: [
                i.fired_at
                for i in alert_rules.evaluate(rule, store, dataset.window()).instances
                if i.fired_at
            ]
            for rule in alert_rules.load_rules()
            if rule.severity == alert_rules.PAGE
        }
    assert not any(paged.values()), paged


def test_the_page_and_its_api_show_states_and_changes(switching_dataset, tmp_path):
    rules_dir = tmp_path / "repo" / "deploy" / "alerts"
    rules_dir.mkdir(parents=True)
    (rules_dir / "queue.rules.yml").write_text(
        _rule("        for: 5m\n        labels:\n          severity: page\n")
    )
    app = create_app(switching_dataset)
    app.config[RULES_CONFIG] = rules_dir
    client = app.test_client()
    window = {"from": "2026-03-10T14:12:00Z", "to": "2026-03-10T14:31:00Z"}

    body = client.get("/api/alerts", query_string=window).get_json()
    (rule,) = body["rules"]
    assert (
        rule["state"] == "pending"
        and rule["for"] == 300
        and rule["source"] == "deploy/alerts/queue.rules.yml"
    )
    assert [(i["active_at"], i["fired_at"], i["ended_at"], i["state"]) for i in rule["instances"]] == [
        (_at(10), _at(15), _at(20), "inactive"),
        (_at(30), None, _at(32), "pending"),
    ]
    assert [(e["ts"], e["state"]) for e in body["events"]] == [
        (_at(15), "firing"),  # pending at 14:10 is before the range
        (_at(20), "resolved"),
        (_at(30), "pending"),
    ]
    explore = urlsplit(rule["instances"][0]["explore"])
    assert explore.path == "/metrics" and parse_qs(explore.query) == {
        "query": ["max by (host_name) (work_queue_depth) > 5"],
        "from": ["2026-03-10T14:05:00Z"],  # pending from 14:10, five minutes before to see it come
        "to": ["2026-03-10T14:25:00Z"],
    }
    assert client.get(rule["instances"][0]["explore"]).status_code == 200

    page = client.get("/alerts", query_string=window)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="alert-timeline"' in text
    assert "QueueDeep" in text and "resolved" in text and 'class="active">Alerts<' in text
    bad = client.get("/api/alerts", query_string={"from": "yesterday"})
    assert bad.status_code == 400 and "cannot read 'yesterday'" in bad.get_json()["error"]
    assert client.get("/api/alerts", query_string={"state": "firing"}).status_code == 400


@pytest.mark.parametrize("scenario_id", FAULTY)
def test_every_faulty_brief_opens_with_the_alert_that_went_out(scenario_id):
    """Checked without the recording, so a brief naming no rule fails before any generation."""
    scenario = scenarios.load(scenario_id)
    name, moment, how = _paging_line(scenario)
    rules = {rule.name: rule for rule in alert_rules.load_rules()}
    assert name in rules, f"{scenario_id}: {name} is not one of the service's alerting rules"
    assert rules[name].severity == how
    assert scenario.window.start.timestamp() <= moment <= scenario.window.end.timestamp()


def test_evaluations_fall_on_multiples_of_the_interval():
    assert alert_rules.evaluation_times((100.0, 200.0), 30.0) == [120.0, 150.0, 180.0]
    assert alert_rules.evaluation_times((120.0, 120.0), 30.0) == [120.0]


def test_the_cache_keeps_the_last_few_datasets_and_computes_each_once():
    cache = alert_rules.AlertCache(size=2)
    calls: list[str] = []

    def compute(key: str):
        return lambda: calls.append(key) or []

    for key in ("a", "b", "a", "c", "b"):
        cache.histories(key, compute(key))
    assert calls == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came


@pytest.mark.slow
def test_a_candidate_sees_the_briefs_page_and_opens_it_in_the_explorer(datasets):
    """In a real browser over cron-storm's recording: the timeline draws, the availability page the
    brief quotes fired at 12:03 (the worst of the hourly storms), and its explore link graphs the
    expression over that alert."""
    from tests import browser

    browser.require_chromium()
    with (
        browser.serve(datasets["cron-storm"], "PAGE") as base,
        browser.launch() as chromium,
        browser.open_page(chromium) as (page, problems),
    ):
        browser.goto(page, f"{base}/alerts?from=now-4h")
        drawn = page.get_by_test_id("alert-timeline").evaluate("el => el.data.map(trace => trace.name)")
        assert drawn == ["pending", "firing"]
        rows = page.get_by_test_id("alert-instances").locator("tbody tr")
        paged = rows.filter(has_text="PlatformApiAvailabilitySLOBurn")
        fired = [browser.epoch(text) for text in paged.locator("td:nth-child(4)").all_inner_texts()]
        assert [datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in fired][-1] == "12:03"
        browser.screenshot(page, "alerts")
        with page.expect_navigation(wait_until="load"):
            paged.last.get_by_role("link", name="explore").click()
        browser.wait_for_charts(page)
        assert (
            page.locator("textarea[name=query], input[name=query]")
            .first.input_value()
            .startswith('sum(rate(gateway_responses_total{code=~"5.."}[5m]))')
        )
        assert problems.all() == []
