"""The ground truth's evidence list checked against the data, the guide against the ground truth, and
the recognition of evidence and decoys in a candidate's recorded investigation.

Every ``[[ground_truth.evidence]]`` and ``[[ground_truth.decoys]]`` item carries checks (PromQL, LogQL
or SQL with bounds, in windows).  Each check must hold on the scenario's dataset; a check marked
``fixed_removes`` must fail on the run with the reference fix applied, so a symptom the fix removes is
proven to be caused by the fault, not merely present.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from interview.investigation_figures import investigation_figures
from interview.scoring import evidence as recognition
from interview.store import InterviewStore
from observability_ui.application import create_app
from observability_ui.query import logql, promql
from observability_ui.query.promql_store import MetricCache, MetricStore
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.scenario import Check, Decoy, Evidence, Scenario, Window
from obsim.taxonomy import MECHANISMS

FAULTY = [s for s in scenarios.load_all() if s.faulty]
LEAK = scenarios.load("connection-leak")
GUIDE = Path(__file__).resolve().parent.parent / "INTERVIEW_GUIDE.md"
SCRAPE_S = 15.0
REDUCE = {"max": max, "min": min, "mean": statistics.fmean}


# -- running a check on a dataset -----------------------------------------------------------------
_caches: dict[Path, MetricCache] = {}


def figure(dataset_dir: Path, check: Check, window: Window) -> float | None:
    """The check's figure over one window, or None when the data has nothing there."""
    start, end = window.start.timestamp(), window.end.timestamp()
    with Dataset.open(dataset_dir) as dataset:
        if check.kind == "promql":
            store = MetricStore(dataset, _caches.setdefault(dataset_dir, MetricCache()))
            found = promql.query_range(store, check.query, start, end, SCRAPE_S)
            values = [v for s in found for _, v in s.points if v is not None and math.isfinite(v)]
            return REDUCE[check.reduce](values) if values else None
        if check.kind == "logql":
            return float(
                logql.search(dataset.connection, logql.parse(check.query), start, end, limit=1).total
            )
        row = dataset.connection.execute(check.query, {"start": start, "end": end}).fetchone()
        return None if row is None or row[0] is None else float(row[0])


def failures(dataset_dir: Path, check: Check, item_windows: tuple[Window, ...]) -> list[str]:
    """Each window of ``check`` where its figure is out of bounds, described."""
    out = []
    for window in check.windows or item_windows:
        value = figure(dataset_dir, check, window)
        if not check.holds(value):
            bounds = f"[{check.at_least}, {check.at_most}]"
            out.append(
                f"{check.query.strip()} over {window.start:%H:%M}-{window.end:%H:%M}: {value} not in {bounds}"
            )
    return out


def _items(kind: str) -> list[Any]:
    return [
        pytest.param(s, item, id=f"{s.id}-{kind}-{index}")
        for s in FAULTY
        for index, item in enumerate(getattr(s.ground_truth, kind))
    ]


@pytest.mark.parametrize(("scenario", "item"), _items("evidence"))
def test_every_evidence_check_holds_on_the_scenario_dataset(datasets, scenario: Scenario, item: Evidence):
    problems = [p for check in item.checks for p in failures(datasets[scenario.id], check, item.windows)]
    assert not problems, f"{item.signal}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("scenario", "item"), [p for p in _items("evidence") if p.values[1].fixed_removes])
def test_the_fix_removes_each_symptom(datasets, scenario: Scenario, item: Evidence):
    fixed = datasets[f"{scenario.id}-fixed"]
    still = [
        check.query.strip()
        for check in item.checks
        if check.fixed_removes and not failures(fixed, check, item.windows)
    ]
    assert not still, f"{item.signal}: still holds with the fix applied: {still}"


@pytest.mark.parametrize(("scenario", "decoy"), _items("decoys"))
def test_every_decoy_is_real(datasets, scenario: Scenario, decoy: Decoy):
    assert decoy.checks, f"{decoy.description}: no check shows the decoy is in the data"
    problems = [p for check in decoy.checks for p in failures(datasets[scenario.id], check, decoy.windows)]
    assert not problems, f"{decoy.description}:\n" + "\n".join(problems)


def test_a_symptom_check_fails_where_the_symptom_is_absent(datasets):
    """The checks can fail: the leak's pool check run on the fixed run, and before the leak began."""
    pool = LEAK.ground_truth.evidence[0]
    full = next(c for c in pool.checks if c.reduce == "min" and c.at_least == 200)
    assert failures(datasets["connection-leak-fixed"], full, pool.windows)
    before = Window(
        start=datetime(2026, 3, 10, 14, 5, tzinfo=UTC), end=datetime(2026, 3, 10, 14, 15, tzinfo=UTC)
    )
    assert not full.holds(figure(datasets["connection-leak"], full, before))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["checks"][0].update(at_least=None, at_most=None), "give at_least, at_most or both"),
        (lambda e: e["checks"][0].update(kind="sql", reduce="max"), "reduce applies to promql checks only"),
        (lambda e: e.update(seen=[{"view": "logs"}]), "seen must include the item's own view"),
        (lambda e: e.update(windows=[]), "windows"),
        (lambda e: e["checks"][0].update(kind="graphite"), "checks.0.kind"),
    ],
)
def test_a_malformed_evidence_item_is_refused_naming_the_field(change, message):
    raw = LEAK.model_dump(mode="json", by_alias=True)
    change(raw["ground_truth"]["evidence"][0])
    with pytest.raises(ValidationError, match=re.escape(message)):
        Scenario.model_validate(raw)


def test_a_decoy_check_needs_a_window():
    raw = LEAK.model_dump(mode="json", by_alias=True)["ground_truth"]["decoys"][1]
    raw["checks"][0]["windows"] = []
    with pytest.raises(ValidationError, match="needs the decoy's windows"):
        Decoy.model_validate(raw)


# -- the interview guide agrees with the ground truth ----------------------------------------------
TIME = re.compile(r"(?<![\d:])(\d\d):(\d\d)(?::(\d\d))?(?![\d:])")


def chapter(scenario_id: str) -> str:
    """The guide's section for one scenario: from its ``## Scenario N — `id``` heading to the next."""
    text = GUIDE.read_text(encoding="utf-8")
    start = re.search(rf"^## Scenario \d+ — `{re.escape(scenario_id)}`", text, re.MULTILINE)
    assert start, f"INTERVIEW_GUIDE.md has no chapter for {scenario_id}"
    following = re.search(r"^## ", text[start.end() :], re.MULTILINE)
    return text[start.start() : start.end() + following.start() if following else len(text)]


def named_times(scenario: Scenario, text: str) -> list[datetime]:
    day = scenario.window.start
    return [
        day.replace(hour=int(h), minute=int(m), second=int(s or 0), microsecond=0)
        for h, m, s in TIME.findall(text)
    ]


def windows_of(scenario: Scenario) -> list[Window]:
    truth = scenario.ground_truth
    items = [*truth.evidence, *truth.decoys]
    return [w for item in items for w in (*item.windows, *(w for c in item.checks for w in c.windows))]


def covered(moment: datetime, windows: list[Window], slack: timedelta = timedelta(minutes=1)) -> bool:
    return any(w.start - slack <= moment <= w.end + slack for w in windows)


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_the_guide_names_every_root_cause_with_its_lines(scenario: Scenario):
    text = chapter(scenario.id)
    for cause in scenario.ground_truth.root_causes:
        assert f"`{cause.file}`" in text, cause.file
        assert f"lines {cause.lines[0]}-{cause.lines[1]}" in text, (cause.file, cause.lines)
        assert cause.function in text


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_every_time_the_guide_and_the_evidence_name_is_inside_an_evidence_window(scenario: Scenario):
    truth = scenario.ground_truth
    texts = [
        chapter(scenario.id),
        *(f"{i.signal} {i.description}" for i in truth.evidence),
        *(f"{d.description} {d.why_not}" for d in truth.decoys),
    ]
    windows = windows_of(scenario)
    outside = [
        f"{m:%H:%M:%S}" for text in texts for m in named_times(scenario, text) if not covered(m, windows)
    ]
    assert not outside, f"times no evidence window covers: {outside}"


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_the_guide_states_the_ground_truth_timing(scenario: Scenario):
    text = chapter(scenario.id)
    for timing in scenario.ground_truth.timings:
        if timing.repeats == "hourly":
            first = scenario.window.start.replace(minute=timing.at_minute, second=0) + timedelta(hours=1)
            tops = [first + timedelta(hours=n) for n in range(3)]
            assert all(f"{t:%H:%M}" in text for t in tops if t < scenario.window.end), tops
        else:
            assert f"{timing.onset:%H:%M}" in text
            assert covered(timing.onset, [w for item in scenario.ground_truth.evidence for w in item.windows])


# -- recognising what a candidate looked at ---------------------------------------------------------
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class Event:
    """A recorded event as the interview store keeps it."""

    detail: dict[str, Any]
    wall_time: datetime = T0
    kind: str = "view"
    sim_time: float | None = None


def event(
    path: str, /, start: str | None = None, end: str | None = None, status: int = 200, **args: str
) -> Event:
    detail: dict[str, Any] = {"path": path, "args": args, "status": status, "bytes": 100}
    if start and end:
        detail["range"] = [ts(start), ts(end)]
    return Event(detail, kind="api" if path.startswith("/api/") else "view")


def ts(hhmm: str, day: str = "2026-03-10") -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00").timestamp()


def item(scenario: Scenario, view: str, index: int = 0) -> Evidence:
    return [e for e in scenario.ground_truth.evidence if e.view == view][index]


LEAK_END = LEAK.window.end.timestamp()
#: each page and the JSON API call that returns the same data (the code view's: ``/api/code/file``)
API_TWIN = {
    "/": "/api/overview",
    "/metrics": "/api/metrics/query_range",
    "/logs": "/api/logs",
    "/traces": "/api/traces",
    "/database": "/api/database/sessions",
    "/jobs": "/api/jobs/runs",
}
PAGE = {"overview": "/", "metrics": "/metrics", "logs": "/logs", "traces": "/traces", "database": "/database"}
PAGE |= {"jobs": "/jobs"}


def api_twin(page: Event) -> Event:
    """The API call that asks what ``page`` asked, over the same range, at the same moment."""
    path, args = page.detail["path"], page.detail["args"]
    if path.startswith("/code/"):
        detail = {
            **page.detail,
            "path": "/api/code/file",
            "args": {**args, "path": path.removeprefix("/code/")},
        }
    else:
        detail = {**page.detail, "path": API_TWIN[path]}
    return Event(detail, page.wall_time, "api", page.sim_time)


def page_showing(view: str, term: str | None, span: tuple[float, float]) -> Event:
    """The page of ``view`` asking about ``term`` over ``span`` (the code view: the file named ``term``)."""
    if view == "code":
        return Event({"path": f"/code/{term or 'app.py'}", "args": {}, "status": 200, "bytes": 100})
    args = {"query": term} if term else {}
    return Event({"path": PAGE[view], "args": args, "status": 200, "bytes": 100, "range": list(span)})


@pytest.mark.parametrize(("scenario", "item"), _items("evidence"))
def test_every_evidence_item_shows_through_the_api_as_on_its_page(scenario: Scenario, item: Evidence):
    """Whichever way a candidate asked for a sighting's signal, page or JSON API, it is on screen; the
    code view has no time, so opening the file counts whatever the item's windows."""
    end = scenario.window.end.timestamp()
    inside = (item.windows[0].start.timestamp(), item.windows[0].end.timestamp())
    before = (inside[0] - 3600, inside[0] - 1800)
    for sighting in item.seen:
        page = page_showing(sighting.view, sighting.terms[0] if sighting.terms else None, inside)
        assert recognition.shows_evidence(item, page, end), (sighting, page.detail)
        assert recognition.shows_evidence(item, api_twin(page), end), (sighting, api_twin(page).detail)
        outside = page_showing(sighting.view, sighting.terms[0] if sighting.terms else None, before)
        if sighting.view != "code" and not any(w.start.timestamp() <= before[1] for w in item.windows):
            assert not recognition.shows_evidence(item, outside, end), sighting
            assert not recognition.shows_evidence(item, api_twin(outside), end), sighting


def test_view_of_maps_pages_and_their_api_twins():
    assert recognition.view_of("/") == recognition.view_of("/api/overview") == "overview"
    assert recognition.view_of("/api/database/sessions") == recognition.view_of("/database") == "database"
    assert recognition.view_of("/traces/0af7651916cd43dd8448eb211c80319c") == "traces"
    assert recognition.view_of("/alerts") == recognition.view_of("/api/alerts") == "alerts"
    assert (
        recognition.view_of("/code/platform_api/lib/database/transactions.py")
        == recognition.view_of("/code-search")
        == "code"
    )
    assert recognition.view_of("/submit") is None and recognition.view_of("/join/x") is None


def test_an_event_shows_evidence_only_in_its_view_window_and_terms():
    pool = item(LEAK, "metrics")
    query = 'sum(db_client_connection_count{db_client_connection_state="used"})'
    assert recognition.shows_evidence(pool, event("/", "14:00", "15:00"), LEAK_END)
    assert recognition.shows_evidence(pool, event("/metrics", "14:30", "14:45", query=query), LEAK_END)
    assert recognition.shows_evidence(
        pool, event("/api/metrics/query_range", "15:00", "15:45", query=query), LEAK_END
    )
    assert not recognition.shows_evidence(pool, event("/", "14:00", "14:15"), LEAK_END), "before the leak"
    assert not recognition.shows_evidence(pool, event("/metrics", "14:30", "14:45", query="up"), LEAK_END), (
        "terms"
    )
    assert not recognition.shows_evidence(pool, event("/logs", "14:30", "14:45", query=query), LEAK_END), (
        "view"
    )
    assert not recognition.shows_evidence(
        pool, event("/metrics", "14:30", "14:45", 400, query=query), LEAK_END
    )


def test_an_instant_in_at_is_what_a_sessions_table_shows():
    sessions = item(LEAK, "database")
    assert recognition.shows_evidence(
        sessions, event("/database", "14:00", "14:10", at="2026-03-10T15:00:00Z"), LEAK_END
    )
    assert recognition.shows_evidence(sessions, event("/database", "14:00", "14:10", at="now-10m"), LEAK_END)
    assert not recognition.shows_evidence(
        sessions, event("/database", "15:00", "15:45", at="2026-03-10T14:10:00Z"), LEAK_END
    )
    assert not recognition.shows_evidence(
        sessions, event("/database", "15:00", "15:45", at="not a time"), LEAK_END
    )
    assert recognition.shows_evidence(sessions, event("/api/database/sessions", "15:00", "15:45"), LEAK_END)


def test_a_list_opened_without_a_query_shows_only_its_ranges_end():
    """The 2026-12-07 review: a candidate who clicked through the tabs "saw 6/6".  The sessions
    table is the snapshot at the range's end and a trace search asking nothing lists the newest
    traces, so over the last hour of cron-storm (ending at 13:10, after the 13:00 storm) neither
    shows the storm; the overview's panels do show the whole hour."""
    storm = scenarios.load("cron-storm")
    end = storm.window.end.timestamp()
    last_hour = (
        datetime.fromtimestamp(end - 3600, UTC).strftime("%H:%M"),
        datetime.fromtimestamp(end, UTC).strftime("%H:%M"),
    )
    sessions, traces, latency = item(storm, "database"), item(storm, "traces"), item(storm, "overview")
    assert recognition.shows_evidence(latency, event("/", *last_hour), end)
    for path in ("/database", "/api/database/sessions"):
        assert not recognition.shows_evidence(sessions, event(path, *last_hour), end), path
        assert recognition.shows_evidence(sessions, event(path, *last_hour, at="2026-03-10T13:00:30Z"), end)
        assert recognition.shows_evidence(sessions, event(path, "12:50", "13:01"), end), (
            "the range ends in it"
        )
    for path in ("/traces", "/api/traces"):
        assert not recognition.shows_evidence(traces, event(path, *last_hour), end), path
        assert not recognition.shows_evidence(traces, event(path, *last_hour, service="", sort="recent"), end)
        assert recognition.shows_evidence(traces, event(path, *last_hour, min_duration="2s"), end), path
        assert recognition.shows_evidence(traces, event(path, *last_hour, sort="longest"), end), path
    clicked_through = [
        event(p, *last_hour) for p in ("/", "/metrics", "/logs", "/traces", "/database", "/jobs")
    ]
    seen = {e.view for e, _ in recognition.evidence_seen(storm, clicked_through)}
    assert seen and not seen & {"database", "traces"}, seen


def test_decoys_are_touched_by_their_views_terms_windows_and_code():
    validation, payment = LEAK.ground_truth.decoys
    slow = 'histogram_quantile(0.99, rate(http_client_request_duration_seconds_bucket{peer_service="validation-service"}[5m]))'
    assert recognition.touches_decoy(validation, event("/metrics", "14:20", "14:50", query=slow), LEAK_END)
    assert not recognition.touches_decoy(
        validation, event("/metrics", "14:00", "14:15", query=slow), LEAK_END
    )
    assert not recognition.touches_decoy(validation, event("/", "14:20", "14:50"), LEAK_END)
    assert recognition.touches_decoy(
        payment, event("/traces", "14:00", "14:05", service="payment-gateway"), LEAK_END
    )
    assert recognition.touches_decoy(
        payment, event("/code/platform_api/lib/external_apis/payment_gateway.py"), LEAK_END
    )
    assert recognition.touches_decoy(
        payment, event("/api/code/file", path="services/billing_service/invoices.py"), LEAK_END
    )
    assert not recognition.touches_decoy(
        payment, event("/code/platform_api/lib/database/transactions.py"), LEAK_END
    )
    assert not recognition.touches_decoy(
        payment, event("/code/platform_api/lib/external_apis/payment_gateway.py", status=404), LEAK_END
    )


@pytest.mark.parametrize("through_the_api", [False, True], ids=["pages", "api"])
def test_derived_figures_from_a_session(through_the_api: bool):
    """The same investigation counts the same whether the candidate read pages or called the API."""
    at = [T0 + timedelta(seconds=s) for s in (0, 30, 400, 460, 500)]
    pages = [
        event("/traces", "14:00", "14:10", service="payment-gateway"),  # decoy, until the next: 30 s
        event("/", "14:00", "14:15"),  # before the leak: nothing
        event("/", "14:00", "15:45"),  # pool and idle-in-transaction panels
        event("/database", "14:00", "14:10", at="2026-03-10T15:00:00Z"),
        event("/code/platform_api/lib/external_apis/payment_gateway.py"),  # the last event: dwell unknown
    ]
    events = [api_twin(page) for page in pages] if through_the_api else pages
    for moment, recorded in zip(at, events, strict=True):
        recorded.wall_time = moment
    seen = recognition.evidence_seen(LEAK, reversed(events))
    assert [(e.view, ev.wall_time) for e, ev in seen] == [
        ("metrics", at[2]),
        ("metrics", at[2]),
        ("database", at[3]),
    ]
    spent = dict((d.description, s) for d, s in recognition.time_on_decoys(LEAK, events))
    assert list(spent.values()) == [0.0, 30.0]
    figures = investigation_figures(LEAK, SimpleNamespace(started_at=T0), events)
    assert figures["time_to_first_relevant_signal_s"] == 400 and figures["time_on_decoys_s"] == 30
    assert figures["evidence_seen"] == 3 and figures["queries"] == 1  # the trace search by service
    assert figures["views_used"] == ["code", "database", "overview", "traces"]
    early = investigation_figures(LEAK, SimpleNamespace(started_at=T0), events[:2])
    assert early["time_to_first_relevant_signal_s"] is None and early["first_relevant_signal"] is None


def test_the_page_the_platform_opens_on_is_no_signal_the_candidate_went_to():
    """The overview as served on arrival shows the pool panels to everyone: the figures count a
    signal from when the candidate went to it (the same overview reopened later, or with a range,
    counts), and a decoy file read just before submitting counts its time until the submission."""
    landing = event("/", "14:00", "15:45")  # as served: no arguments, the whole recording
    again = event("/", "14:00", "15:45")
    decoy_file = event("/code/platform_api/lib/external_apis/payment_gateway.py")
    submitted = Event({}, kind="submission")
    for seconds, recorded in zip((0, 300, 400, 490), (landing, again, decoy_file, submitted), strict=True):
        recorded.wall_time = T0 + timedelta(seconds=seconds)
    figures = investigation_figures(
        LEAK, SimpleNamespace(started_at=T0), [landing, again, decoy_file, submitted]
    )
    assert figures["time_to_first_relevant_signal_s"] == 300 and figures["evidence_seen"] == 2
    assert figures["time_on_decoys_s"] == 90
    arrived = investigation_figures(LEAK, SimpleNamespace(started_at=T0), [landing])
    assert arrived["time_to_first_relevant_signal_s"] is None and arrived["evidence_seen"] == 0
    assert len(recognition.evidence_seen(LEAK, [landing])) == 2  # still on screen, for the score


@pytest.fixture
def candidate(datasets, tmp_path):
    """A candidate's browser in an interview over the real connection-leak dataset, and their events."""
    interviews = InterviewStore(f"sqlite:///{tmp_path / 'interviews.sqlite'}")
    session_id, link = interviews.create_session("Ada", LEAK.id, LEAK.default_seed, 900)
    interviews.start(session_id)
    app = create_app(
        datasets[LEAK.id], LEAK.brief, interviews=interviews, incident=LEAK, public_url="http://localhost"
    )
    client = app.test_client()
    assert client.post(f"/join/{link}").status_code == 303
    return client, lambda: interviews.events(session_id), lambda: interviews.submissions(session_id)


def test_opening_the_sessions_at_the_leak_registers_the_database_evidence(candidate):
    client, events, _ = candidate
    assert client.get("/database", query_string={"at": "2026-03-10T14:05:00Z"}).status_code == 200
    assert (
        client.get(
            "/database", query_string={"at": "2026-03-10T15:10:00Z", "state": "idle in transaction"}
        ).status_code
        == 200
    )
    assert client.get("/code/platform_api/lib/external_apis/payment_gateway.py").status_code == 200
    joined, wrong_hour, leak_time, code = events()
    assert joined.kind == "join"
    sessions = item(LEAK, "database")
    assert not recognition.shows_evidence(sessions, wrong_hour, LEAK_END)
    assert recognition.shows_evidence(sessions, leak_time, LEAK_END)
    assert [(e.view, ev.detail["args"]["at"]) for e, ev in recognition.evidence_seen(LEAK, events())] == [
        ("database", "2026-03-10T15:10:00Z")
    ]
    assert recognition.touches_decoy(LEAK.ground_truth.decoys[1], code, LEAK_END)


def test_api_calls_are_cited_like_pages_and_count_as_evidence_on_screen(candidate):
    """A candidate reading the data through the JSON API cites those calls on the form, with their
    query, and the automatic score credits what they showed; the form asks for the mechanism in
    words and lists none of the taxonomy."""
    client, events, submissions = candidate
    pool_query = 'sum(db_client_connection_count{db_client_connection_state="used"})'
    pool = {"query": pool_query, "from": "2026-03-10T14:30:00Z", "to": "2026-03-10T15:30:00Z"}
    assert client.get("/api/metrics/query_range", query_string=pool).status_code == 200
    assert (
        client.get("/api/database/sessions", query_string={"at": "2026-03-10T15:10:00Z"}).status_code == 200
    )
    calls = [e for e in events() if e.kind == "api"]
    form = client.get("/submit").get_data(as_text=True)
    assert all(f'name="evidence_events" value="{call.id}"' in form for call in calls)
    assert '<textarea name="mechanism"' in form and '<select name="mechanism"' not in form
    for candidate_side in (form, client.get("/api/openapi.json").get_data(as_text=True)):
        assert not [kind for kind in MECHANISMS if kind in candidate_side]

    cause = "Transactions are never closed when the validation call times out, so connections leak."
    posted = {"root_cause": cause, "evidence_events": [str(call.id) for call in calls]}
    assert client.post("/submit", data=posted).status_code == 200
    (stored,) = submissions()
    cited = sorted((e["view"], e["link"].split("?")[0], e["query"]) for e in stored.body["evidence"])
    assert cited == [
        ("database", "/api/database/sessions", ""),
        ("metrics", "/api/metrics/query_range", pool_query),
    ]
    evidence = next(p for p in stored.automatic_score["parts"] if p["name"] == "evidence")
    assert (
        evidence["why"].startswith("Cited the database and metrics views")
        and "never had" not in evidence["why"]
    )
    assert evidence["points"] == 5.0  # two of the four views the ground truth's evidence lives in
