"""Prometheus's HTTP API (``/api/v1/*``) over a real HTTP server on 127.0.0.1: the wire format as
Prometheus writes it, answers equal to the platform's own engine, the documented envelope, and in an
interview the candidate's API token, the clock and the record.

The hand-made dataset (tests/conftest.py) needs no generation: an hour of two connection-pool gauges
(3 and 7) and one request counter (0, 1, 2, ...), scraped every 15 s."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from flask import Flask
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from interview.store import InterviewStore
from observability_ui import openapi, prometheus_wire
from observability_ui.application import create_app
from observability_ui.prometheus_wire import WireError
from observability_ui.query.promql import MetricStore, query_instant, query_range
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from tests.conftest import HANDMADE_SCRAPES, HANDMADE_START

END = HANDMADE_START + 15 * (HANDMADE_SCRAPES - 1)
PUBLIC = "http://localhost:8000"
POOL = "db_client_connection_count"
COUNTER = "http_server_request_duration_seconds_count"


# -- the wire format ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "written"),
    [
        (0.5, "0.5"),
        (7.0, "7"),
        (-0.0, "-0"),
        (1e20, "100000000000000000000"),
        (1.5e21, "1.5e+21"),
        (1e-5, "0.00001"),
        (1.25e-7, "1.25e-07"),
        (123456789012345678.0, "123456789012345680"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_are_written_as_prometheus_writes_them(number: float, written: str) -> None:
    assert prometheus_wire.value(number) == written


@pytest.mark.parametrize(
    ("millis", "written"),
    [
        (1435781451781, "1435781451.781"),
        (1435781451780, "1435781451.780"),
        (1435781451000, "1435781451"),
        (1435781451005, "1435781451.005"),
    ],
)
def test_timestamps_are_written_as_prometheus_writes_them(millis: int, written: str) -> None:
    assert prometheus_wire.timestamp(millis) == written


@pytest.mark.parametrize(
    ("raw", "millis"),
    [
        ("1773151200", 1773151200000),
        ("1773151200.5", 1773151200500),
        ("1773151200.0005", 1773151200001),  # Go's math.Round: half away from zero
        ("1.7731512e9", 1773151200000),
        ("2026-03-10T14:00:00Z", 1773151200000),
        ("2026-03-10T16:00:00.25+02:00", 1773151200250),
    ],
)
def test_times_are_read_as_prometheus_reads_them(raw: str, millis: int) -> None:
    assert prometheus_wire.parse_time(raw) == millis


@pytest.mark.parametrize(
    ("raw", "millis"), [("15s", 15000), ("1m30s", 90000), ("0.5", 500), ("250ms", 250), ("2h", 7200000)]
)
def test_durations_are_read_as_prometheus_reads_them(raw: str, millis: int) -> None:
    assert prometheus_wire.parse_duration(raw) == millis


@pytest.mark.parametrize("raw", ["now", "2026-03-10", "2026-03-10T14:00:00", "1e300", "nan", "inf", ""])
def test_a_time_prometheus_would_refuse_is_refused(raw: str) -> None:
    with pytest.raises(WireError, match="cannot parse"):
        prometheus_wire.parse_time(raw)


@pytest.mark.parametrize("raw", ["1s1m", "-5", "5x", "", "1e400"])
def test_a_duration_prometheus_would_refuse_is_refused(raw: str) -> None:
    with pytest.raises(WireError, match="cannot parse"):
        prometheus_wire.parse_duration(raw)


# -- over a real server --------------------------------------------------------------------------------
def _serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(handmade_dataset: Path) -> Iterator[str]:
    yield from _serve(create_app(handmade_dataset))


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_dict(openapi.document())


@pytest.fixture(scope="module")
def store(handmade_dataset: Path) -> Iterator[MetricStore]:
    with Dataset.open(handmade_dataset) as dataset:
        yield MetricStore(dataset)


def ask(
    client: httpx.Client, spec: OpenAPI, path: str, post: bool = False, **params: str | list[str]
) -> httpx.Response:
    """GET (or POST as a form, as promtool does) and hold the answer to the OpenAPI document."""
    response = client.post(path, data=params) if post else client.get(path, params=params)
    query = str(httpx.QueryParams(params))
    environ = EnvironBuilder(
        path=path,
        method="POST" if post else "GET",
        query_string="" if post else query,
        data=query if post else None,
        content_type="application/x-www-form-urlencoded" if post else None,
        base_url=str(client.base_url),
    ).get_environ()
    served = Response(response.content, status=response.status_code, headers=dict(response.headers))
    spec.validate_response(WerkzeugOpenAPIRequest(Request(environ)), WerkzeugOpenAPIResponse(served))
    return response


def test_an_instant_query_answers_as_prometheus_and_as_the_engine(client, spec, store) -> None:
    at = HANDMADE_START + 1800.125
    body = ask(client, spec, "/api/v1/query", query=f"{POOL} * 2", time=str(at)).json()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    ours = {tuple(sorted(s.labels.items())): s.points[0][1] for s in query_instant(store, f"{POOL} * 2", at)}
    theirs = {tuple(sorted(item["metric"].items())): item["value"] for item in body["data"]["result"]}
    assert ours and set(ours) == set(theirs)
    for labels, value in ours.items():
        assert theirs[labels] == [at, prometheus_wire.value(value)]
    assert (
        '"value":[1773153000.125,"6"]'
        in ask(client, spec, "/api/v1/query", query=f"{POOL} * 2", time=str(at)).text
    )


def test_infinities_and_nan_are_strings_and_a_scalar_is_a_scalar(client, spec) -> None:
    for expr, written in (("1/0", "+Inf"), ("-1/0", "-Inf"), ("0/0", "NaN")):
        body = ask(client, spec, "/api/v1/query", query=expr, time=str(END)).json()
        assert body["data"] == {"resultType": "scalar", "result": [END, written]}
    vector = ask(client, spec, "/api/v1/query", query=f"{POOL} / 0", time=str(END)).json()
    assert {item["value"][1] for item in vector["data"]["result"]} == {"+Inf"}


def test_time_defaults_to_the_end_of_the_recording(client, spec) -> None:
    body = ask(client, spec, "/api/v1/query", query=COUNTER).json()
    assert body["data"]["result"][0]["value"] == [END, str(HANDMADE_SCRAPES - 1)]


def test_a_range_query_keeps_the_millisecond_grid_asked_for(client, spec, store) -> None:
    """Start, step and end as a client sends them (float seconds, a duration string), the grid
    ``start + k * step`` to the millisecond, the values the engine's own."""
    start, end = HANDMADE_START + 600.123, HANDMADE_START + 900
    body = ask(
        client,
        spec,
        "/api/v1/query_range",
        query=f"rate({COUNTER}[1m])",
        start=str(start),
        end=str(end),
        step="37.5",
    ).json()
    (series,) = body["data"]["result"]
    assert body["data"]["resultType"] == "matrix" and series["metric"] == {"http_route": "/api/v1/workflows"}
    grid = [round(start + k * 37.5, 3) for k in range(int((end - start) // 37.5) + 1)]
    assert [t for t, _ in series["values"]] == grid
    (ours,) = query_range(store, f"rate({COUNTER}[1m])", start, end, 37.5)
    assert [v for _, v in series["values"]] == [prometheus_wire.value(v) for _, v in ours.points]


def test_a_post_form_answers_as_the_get(client, spec) -> None:
    params = {
        "query": f"sum({POOL})",
        "start": str(HANDMADE_START + 60),
        "end": str(HANDMADE_START + 120),
        "step": "30",
    }
    got, posted = (
        ask(client, spec, "/api/v1/query_range", **params),
        ask(client, spec, "/api/v1/query_range", post=True, **params),
    )
    assert posted.status_code == got.status_code == 200 and posted.json() == got.json()
    assert [v for _, v in got.json()["data"]["result"][0]["values"]] == ["10", "10", "10"]


def test_series_labels_and_values(client, spec) -> None:
    idle = f'{POOL}{{db_client_connection_state="idle"}}'
    series = ask(client, spec, "/api/v1/series", **{"match[]": [idle, COUNTER]}).json()["data"]
    assert series == [
        {"__name__": POOL, "db_client_connection_state": "idle"},
        {"__name__": COUNTER, "http_route": "/api/v1/workflows"},
    ]
    assert ask(client, spec, "/api/v1/labels").json()["data"] == [
        "__name__",
        "db_client_connection_state",
        "http_route",
    ]
    assert ask(client, spec, "/api/v1/labels", post=True, **{"match[]": [POOL]}).json()["data"] == [
        "__name__",
        "db_client_connection_state",
    ]
    assert ask(client, spec, "/api/v1/label/__name__/values").json()["data"] == [POOL, COUNTER]
    cut = ask(client, spec, "/api/v1/label/db_client_connection_state/values", limit="1").json()
    assert cut["data"] == ["idle"] and cut["warnings"] == ["results truncated due to limit"]
    before = ask(
        client, spec, "/api/v1/series", **{"match[]": [COUNTER], "end": str(HANDMADE_START - 60)}
    ).json()
    assert before["data"] == []
    metadata = ask(client, spec, "/api/v1/metadata", metric=POOL).json()["data"]
    assert metadata == {POOL: [{"type": "gauge", "help": "connections", "unit": ""}]}


@pytest.mark.parametrize(
    ("path", "params", "status", "error_type", "says"),
    [
        ("/api/v1/query", {"query": "rate("}, 400, "bad_data", "unclosed left parenthesis"),
        ("/api/v1/query", {"query": "up", "time": "yesterday"}, 400, "bad_data", "time"),
        ("/api/v1/query", {"query": "up", "bogus": "1"}, 400, "bad_data", "unknown query parameter 'bogus'"),
        (
            "/api/v1/query",
            {"query": f"{POOL}[5m] + 1"},
            400,
            "bad_data",
            "binary expression must contain only scalar and instant vector types",
        ),
        (
            "/api/v1/query",
            {"query": f'label_replace({POOL}, "db_client_connection_state", "x", "", "")'},
            422,
            "execution",
            "vector cannot contain metrics with the same labelset",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "2", "end": "1", "step": "1"},
            400,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "1", "end": "100000", "step": "1"},
            400,
            "bad_data",
            "exceeded maximum resolution",
        ),
        (
            "/api/v1/query_range",
            {"query": "up", "start": "1", "end": "2", "step": "0s"},
            400,
            "bad_data",
            "zero or negative",
        ),
        ("/api/v1/series", {}, 400, "bad_data", "match[]"),
        ("/api/v1/series", {"match[]": "sum(up)"}, 400, "bad_data", "not a series selector"),
    ],
)
def test_errors_are_prometheus_envelopes(client, spec, path, params, status, error_type, says) -> None:
    response = ask(client, spec, path, **params)
    body = response.json()
    assert response.status_code == status, body
    assert body["status"] == "error" and body["errorType"] == error_type and says in body["error"]


# -- in an interview -------------------------------------------------------------------------------------
@pytest.fixture
def interview(handmade_dataset: Path, tmp_path: Path) -> Iterator[tuple[str, InterviewStore, str, str]]:
    """A served interview over the hand-made dataset: its URL, store, session id and the candidate's link."""
    interviews = InterviewStore(f"sqlite:///{tmp_path / 'interviews.sqlite'}")
    leak = scenarios.load("connection-leak")
    session, link = interviews.create_session("Ada", leak.id, leak.default_seed, 3600)
    interviews.start(session)
    app = create_app(handmade_dataset, interviews=interviews, incident=leak, public_url=PUBLIC)
    for url in _serve(app):
        yield url, interviews, session, link


@contextmanager
def _joined(url: str, link: str) -> Iterator[httpx.Client]:
    """The candidate's browser, after pressing their link's button."""
    with httpx.Client(base_url=url, timeout=60) as browser:
        assert browser.post(f"/join/{link}", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
        yield browser


def test_a_tool_reads_the_api_with_the_token_shown_on_the_candidates_pages(interview) -> None:
    url, interviews, session, link = interview
    with _joined(url, link) as browser:
        page = browser.get("/metrics").text
        token = re.search(r'data-testid="api-token">([^<]+)<', page).group(1)
        assert link not in page and token.startswith("o11y_")
        assert browser.get("/api/v1/query", params={"query": POOL}).status_code == 200  # the cookie too
    with httpx.Client(base_url=url, timeout=60) as tool:  # no cookie, no Origin, no Sec-Fetch-Site
        refused = tool.get("/api/v1/query", params={"query": POOL})
        assert refused.status_code == 403 and refused.json()["status"] == "error"
        assert (
            tool.get(
                "/api/v1/query", params={"query": POOL}, headers={"Authorization": "Bearer o11y_wrong"}
            ).status_code
            == 403
        )
        bearer = {"Authorization": f"Bearer {token}"}
        posted = tool.post("/api/v1/query", data={"query": f"sum({POOL})", "time": str(END)}, headers=bearer)
        assert posted.status_code == 200 and posted.json()["data"]["result"][0]["value"] == [END, "10"]
        basic = tool.get("/api/v1/labels", auth=("api", token))
        assert basic.status_code == 200 and "__name__" in basic.json()["data"]
        assert tool.get("/metrics", headers=bearer).status_code == 403, "the token opens the API only"
    recorded = [e.detail for e in interviews.events(session) if e.kind == "api"]
    assert [(d["path"], d["args"].get("query")) for d in recorded] == [
        ("/api/v1/query", POOL),
        ("/api/v1/query", f"sum({POOL})"),
        ("/api/v1/labels", None),
    ]
    assert recorded[1]["range"] == [END, END] and recorded[1]["status"] == 200


def test_the_clock_and_cross_site_rules_hold_on_the_api(interview) -> None:
    url, interviews, session, link = interview
    with _joined(url, link) as browser:
        token = re.search(r'data-testid="api-token">([^<]+)<', browser.get("/").text).group(1)
        other_site = browser.post(
            "/api/v1/query", data={"query": POOL}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert other_site.status_code == 403 and other_site.json()["errorType"] == "forbidden"
        interviews.pause(session)
        paused = httpx.get(
            f"{url}/api/v1/query", params={"query": POOL}, headers={"Authorization": f"Bearer {token}"}
        )
        assert paused.status_code == 403 and "paused" in paused.json()["error"]
    assert not [e for e in interviews.events(session) if e.kind == "api"], "refused calls are not recorded"


# -- Loki's API: not offered, said so to whoever may ask ----------------------------------------------
LOKI_RANGE = "/loki/api/v1/query_range"
LOGQL = {"query": '{service="platform-api"}', "limit": "10"}


def _not_offered(response: httpx.Response) -> None:
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/json", (
        response.text
    )
    said = response.json()["error"]
    assert "Loki API is not offered here" in said and "/api/logs" in said and "Logs page" in said


def test_loki_paths_answer_a_json_404_naming_where_logs_are_queried(client) -> None:
    for path in (LOKI_RANGE, "/loki/api/v1/labels", "/loki"):
        _not_offered(client.get(path, params=LOGQL if path == LOKI_RANGE else None))
    _not_offered(client.post(LOKI_RANGE, data=LOGQL))
    refused = client.delete(LOKI_RANGE)
    assert refused.status_code == 405 and "error" in refused.json(), "no page meant for a browser"


def test_in_an_interview_loki_paths_open_as_the_prometheus_api_does(interview) -> None:
    """A candidate's tool (token) or browser (cookie) is told the API is not offered; anyone else
    gets the refusal the JSON API gives, with nothing of the interview in it."""
    url, interviews, session, link = interview
    with httpx.Client(base_url=url, timeout=60) as stranger:
        for headers in ({}, {"Authorization": "Bearer o11y_wrong"}):
            refused = stranger.get(LOKI_RANGE, params=LOGQL, headers=headers)
            assert refused.status_code == 403 and refused.headers["Content-Type"] == "application/json"
            assert set(refused.json()) == {"error", "reason"}
            assert refused.json()["reason"] in ("no_link", "link_revoked")
            for secret in (link, session, "Ada", "connection-leak", "console", "Loki"):
                assert secret not in refused.text
    with _joined(url, link) as browser:
        token = re.search(r'data-testid="api-token">([^<]+)<', browser.get("/logs").text).group(1)
        _not_offered(browser.get(LOKI_RANGE, params=LOGQL))
    with httpx.Client(base_url=url, timeout=60) as tool:
        _not_offered(tool.get(LOKI_RANGE, params=LOGQL, headers={"Authorization": f"Bearer {token}"}))
        _not_offered(tool.get("/loki/api/v1/labels", auth=("api", token)))
        interviews.pause(session)
        paused = tool.get(LOKI_RANGE, params=LOGQL, headers={"Authorization": f"Bearer {token}"})
        assert paused.status_code == 403 and paused.json()["clock"] == "paused"
    asked = [(e.detail["path"], e.detail["status"]) for e in interviews.events(session) if e.kind == "api"]
    assert asked == [(LOKI_RANGE, 404), (LOKI_RANGE, 404), ("/loki/api/v1/labels", 404)]


# -- answers at the edges, as Prometheus gives them ------------------------------------------------------
def _range(client: httpx.Client, spec: OpenAPI, expr: str, start: float, end: float, step: str) -> list:
    body = ask(client, spec, "/api/v1/query_range", query=expr, start=repr(start), end=repr(end), step=step)
    assert body.status_code == 200, body.text
    return body.json()["data"]["result"]


def test_a_range_past_the_end_answers_within_the_lookback(client, spec) -> None:
    """The newest sample (the counter's last value) answers for 5 minutes after it, not after."""
    (series,) = _range(client, spec, COUNTER, END - 30, END + 600, "60")
    last = str(HANDMADE_SCRAPES - 1)
    assert series["values"][-5:] == [[END + offset, last] for offset in (30, 90, 150, 210, 270)]


def test_a_range_starting_before_the_recording_keeps_its_grid(client, spec) -> None:
    start = HANDMADE_START - 593
    (series,) = _range(client, spec, COUNTER, start, start + 900, "60")
    assert [t for t, _ in series["values"]] == [HANDMADE_START + 7 + 60 * k for k in range(6)]
    assert [v for _, v in series["values"]] == ["0", "4", "8", "12", "16", "20"]  # the scrape before each


def test_window_edges_are_whole_milliseconds(client, spec) -> None:
    """Left-open windows ``(t - 1700ms, t]`` at a 100 ms step: the scrape at the recording's start
    counts until t reaches start + 1.7 s exactly, not one step further (float seconds put
    t - 1.7 a rounding below the scrape); and a 3 ms step keeps its last point."""
    (series,) = _range(
        client, spec, f"count_over_time({COUNTER}[1700ms])", HANDMADE_START + 0.1, HANDMADE_START + 3, "0.1"
    )
    assert [t for t, _ in series["values"]] == [round(HANDMADE_START + k / 10, 1) for k in range(1, 17)]
    (fine,) = _range(client, spec, f"{COUNTER} * 0", HANDMADE_START + 3, HANDMADE_START + 3.6, "0.003")
    assert len(fine["values"]) == 201 and fine["values"][-1][0] == HANDMADE_START + 3.6


def test_a_time_outside_the_recording_answers_nothing_and_says_why(client, spec) -> None:
    """As Prometheus answers it (Grafana checks a data source with ``1+1`` at the real now), with a
    warning naming the recording's span."""
    now = ask(client, spec, "/api/v1/query", query="1+1", time="2030-01-01T00:00:00Z").json()
    assert now["data"] == {"resultType": "scalar", "result": [1893456000, "2"]}
    assert now["warnings"] == [
        "the recording spans 2026-03-10T14:00:00Z to 2026-03-10T15:00:00Z; 2030-01-01T00:00:00Z is outside it:"
        " ask within it"
    ]
    empty = ask(client, spec, "/api/v1/query_range", query=POOL, start="1", end="601", step="60").json()
    assert empty["data"]["result"] == [] and "is outside it" in empty["warnings"][0]
    inside = ask(client, spec, "/api/v1/query", query=POOL, time=str(END + 299)).json()
    assert len(inside["data"]["result"]) == 2 and "warnings" not in inside


def test_timeout_cuts_the_query_short_as_prometheus_says_it(client, spec) -> None:
    """``timeout`` lowers the request's query budget: a query that takes far longer than 1 ms is
    cancelled, answered 503 with errorType ``timeout``."""
    heavy = f"max_over_time(rate({COUNTER}[1m])[30m:1s])"
    window = {"start": str(HANDMADE_START), "end": str(END), "step": "1s"}
    cut = ask(client, spec, "/api/v1/query_range", query=heavy, timeout="1ms", **window)
    assert cut.status_code == 503 and cut.json()["errorType"] == "timeout", cut.text
    assert ask(client, spec, "/api/v1/query", query="1", timeout="0").json()["errorType"] == "bad_data"
