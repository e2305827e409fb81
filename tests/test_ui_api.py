"""The JSON API behind every view, over a real HTTP server on 127.0.0.1 and a real dataset.

The OpenAPI document is checked three ways: it is a valid OpenAPI 3.1 document; it documents
exactly the ``/api/`` routes the app has; and every real response (successes and refusals) is
validated against it with openapi-core.  A response must also be strict JSON: no NaN or Infinity.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate as validate_document
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from observability_ui import openapi
from observability_ui.application import create_app
from observability_ui.views.traces import SORTS
from obsim.dataset.reader import Dataset

pytestmark = pytest.mark.slow

PROMQL = "sum by (db_client_connection_state) (db_client_connection_count)"
QUANTILE = "histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket[1m])))"


@pytest.fixture(scope="module")
def dataset_path(datasets) -> Path:
    return datasets["connection-leak"]


@pytest.fixture(scope="module")
def base_url(dataset_path: Path) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(dataset_path, "Requests time out."), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def spec(client: httpx.Client) -> OpenAPI:
    served = client.get("/api/openapi.json")
    assert served.status_code == 200
    return OpenAPI.from_dict(served.json())


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"response is not strict JSON: it contains {constant}")

    return json.loads(text, parse_constant=refuse)


def _validate(
    spec: OpenAPI, path: str, query: str, response: Response, base_url: str = "http://localhost"
) -> None:
    """Check one exchange against the OpenAPI document: its status is documented, its body fits."""
    request = Request(EnvironBuilder(path=path, query_string=query, base_url=base_url).get_environ())
    spec.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))


def get(
    client: httpx.Client, spec: OpenAPI, path: str, params: dict[str, object] | None = None
) -> tuple[int, dict]:
    """GET over HTTP, then validate the exchange against the OpenAPI document."""
    params = params or {}
    response = client.get(path, params=params)
    body = _strict_json(response.text)
    _validate(
        spec,
        path,
        urlencode(params),
        Response(response.content, status=response.status_code, headers=dict(response.headers)),
        str(client.base_url),
    )
    assert isinstance(body, dict)
    return response.status_code, body


def test_the_document_is_valid_openapi() -> None:
    validate_document(openapi.document())


@pytest.fixture(scope="module")
def handmade(handmade_dataset: Path) -> FlaskClient:
    app = create_app(handmade_dataset)
    app.testing = True
    return app.test_client()


@pytest.fixture(scope="module")
def document_spec() -> OpenAPI:
    return OpenAPI.from_dict(openapi.document())


def local_get(
    client: FlaskClient, spec: OpenAPI, path: str, query: list[tuple[str, str]]
) -> tuple[int, dict]:
    """GET through the app (no server), validated against the document as :func:`get` is."""
    response = client.get(path, query_string=urlencode(query))
    _validate(spec, path, urlencode(query), response)
    return response.status_code, _strict_json(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("path", "query", "says"),
    [
        # Prometheus's names for the instant and the range: answered for the recording's end before
        (
            "/api/metrics/query",
            [("query", "db_client_connection_count"), ("time", "2026-03-10T14:30:00Z")],
            "unknown query parameter 'time': /api/metrics/query accepts query, from, to, at",
        ),
        (
            "/api/metrics/query_range",
            [("query", "db_client_connection_count"), ("start", "now-2h"), ("end", "now-1h")],
            "unknown query parameters 'start', 'end': /api/metrics/query_range accepts query, from, to, step",
        ),
        # a page size that is not a parameter: 100 records came back, reported as limit 100
        ("/api/logs", [("limit", "5000")], "'limit': /api/logs accepts from, to, query, service"),
        ("/api/jobs/runs", [("limit", "1000")], "'limit': /api/jobs/runs accepts from, to, job, outcome"),
        ("/api/dataset", [("verbose", "1")], "'verbose': /api/dataset takes no query parameters"),
        ("/api/traces/" + "0" * 32, [("from", "now-1h")], "/api/traces/{trace_id} takes no query parameters"),
        ("/api/logs", [("from", "now-5m"), ("from", "now-1h")], "'from' given more than once"),
    ],
)
def test_an_undocumented_query_parameter_is_refused_by_name(
    handmade, document_spec, path, query, says
) -> None:
    status, body = local_get(handmade, document_spec, path, query)
    assert status == 400 and says in body["error"], body


def test_the_sessions_api_gives_the_snapshots_blocking_trees(handmade, document_spec) -> None:
    """At 14:30 of the hand-made hour pid 101, idle in its transaction, holds up 102, and 103 and 104
    queue behind 102: the tree is the whole snapshot's, whatever the table's filters."""
    query = [("at", "2026-03-10T14:30:00Z"), ("state", "idle")]
    status, body = local_get(handmade, document_spec, "/api/database/sessions", query)
    assert status == 200 and [(s["pid"], s["blocked_by"]) for s in body["sessions"]] == [(105, [])]
    (tree,) = body["blocking"]
    assert (tree["pid"], tree["state"], tree["application_name"], tree["waiter_count"]) == (
        101,
        "idle in transaction",
        "platform-worker",
        3,
    )
    assert tree["xact_age"] == 40.0 and tree["waiting"] is None and tree["query"].endswith("FOR UPDATE")
    (first,) = tree["waiters"]
    assert (first["pid"], first["wait_event"], first["blocked_by"], first["waiting"]) == (
        102,
        "transactionid",
        [101],
        30.0,
    )
    assert [(w["pid"], w["wait_event"], w["blocked_by"], w["waiting"]) for w in first["waiters"]] == [
        (103, "tuple", [102], 20.0),
        (104, "tuple", [102, 103], 5.0),
    ]
    status, body = local_get(
        handmade, document_spec, "/api/database/sessions", [("at", "2026-03-10T14:45:00Z")]
    )
    assert (
        status == 200 and body["blocking"] == [] and [s["blocked_by"] for s in body["sessions"]] == [[], []]
    )


def test_every_documented_query_parameter_is_accepted(handmade, document_spec) -> None:
    """The refusal is driven by the document: no parameter it lists is ever called unknown (the
    views may still refuse an empty value, with their own documented 4xx)."""
    for template in openapi.document()["paths"]:
        query = [(name, "") for name in openapi.query_parameters(template)]
        status, body = local_get(
            handmade, document_spec, template.format(trace_id="0" * 32, name="__name__"), query
        )
        assert status == 200 or "query parameter" not in body["error"], (template, body)


def test_a_metric_name_no_series_has_is_named_with_the_closest(handmade, document_spec) -> None:
    typo = "sum(rate(http_server_requst_duration_seconds_count[1m]))"
    for path in ("/api/metrics/query", "/api/metrics/query_range"):
        status, body = local_get(handmade, document_spec, path, [("query", typo)])
        assert status == 200 and body["series"] == []
        assert body["warnings"] == [
            "no series named http_server_requst_duration_seconds_count in this recording; "
            "did you mean http_server_request_duration_seconds_count?"
        ]
    _, known = local_get(
        handmade, document_spec, "/api/metrics/query", [("query", "db_client_connection_count")]
    )
    assert len(known["series"]) == 2 and known["warnings"] == []


def test_the_functions_an_sre_reaches_for_answer_as_documented(handmade, document_spec) -> None:
    """predict_linear, absent, label_replace and time() through the JSON API, over the hand-made hour:
    a route's request count climbs by one per 15 s scrape (240 at 15:00) and the pool holds 3 idle
    and 7 used connections throughout."""

    def query(expr: str, **extra: str) -> dict:
        status, body = local_get(
            handmade, document_spec, "/api/metrics/query", [("query", expr), *extra.items()]
        )
        assert status == 200, body
        return body

    count = "http_server_request_duration_seconds_count"
    assert query(f"predict_linear({count}[5m], 3600)")["series"] == [
        {"labels": {"http_route": "/api/v1/workflows"}, "value": 240 + 3600 / 15}
    ]
    leaked = 'absent(db_client_connection_count{db_client_connection_state="leaked"})'
    assert query(leaked)["series"] == [{"labels": {"db_client_connection_state": "leaked"}, "value": 1.0}]
    assert query('absent(db_client_connection_count{db_client_connection_state="idle"})')["series"] == []
    renamed = query(
        'label_replace(db_client_connection_count, "state", "$1", "db_client_connection_state", "(u.*)")'
    )
    assert sorted(s["labels"].get("state", "") for s in renamed["series"]) == ["", "used"]
    uptime = query(f"time() - {count} * 15", at="2026-03-10T14:30:00Z")["series"]
    assert uptime == [{"labels": {"http_route": "/api/v1/workflows"}, "value": 1_773_151_200.0}]  # 14:00
    status, body = local_get(
        handmade,
        document_spec,
        "/api/metrics/query_range",
        [("query", "time()"), ("from", "2026-03-10T14:30:00Z"), ("to", "2026-03-10T14:30:30Z")],
    )
    assert status == 200 and body["series"] == [
        {"labels": {}, "points": [[1_773_153_000.0 + 15 * i] * 2 for i in range(3)]}
    ]


def test_every_api_route_is_documented_and_nothing_else(dataset_path: Path) -> None:
    app = create_app(dataset_path)
    routes = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes == set(openapi.document()["paths"])


def test_every_documented_call_answers_as_documented(client, spec) -> None:
    status, window = get(client, spec, "/api/dataset")
    assert status == 200 and window["brief"] == "Requests time out."
    end = window["window"]["end"]

    _, traces = get(client, spec, "/api/traces", {"limit": 5, "errors": "1", "from": "now-30m"})
    assert traces["traces"] and all(t["errors"] >= 1 for t in traces["traces"])
    trace_id = traces["traces"][0]["trace_id"]

    calls: dict[str, list[dict[str, object]]] = {
        "/api/openapi.json": [{}],
        "/api/dataset": [{}],
        "/api/overview": [{"from": "now-30m"}],
        "/api/metrics/names": [{}],
        "/api/metrics/labels": [{"metric": "db_client_connection_count"}],
        "/api/metrics/query_range": [{"query": PROMQL, "from": "now-30m", "step": 60}],
        "/api/metrics/query": [{"query": PROMQL}, {"query": QUANTILE, "at": "now-1h"}],
        "/api/logs": [
            {"query": '{level="error"}', "from": "now-30m"},
            {"service": "platform-api", "offset": 100},
            {
                "query": '{service="platform-api"} | json | http_response_status_code >= 500',
                "direction": "forward",
            },
        ],
        "/api/logs/volume": [{"query": '{level="error"} |= "timed out"', "from": "now-1h"}],
        "/api/logs/query_range": [
            {"query": 'sum by (level) (count_over_time({level="error"}[5m]))', "step": 60},
            {
                "query": 'quantile_over_time(0.99, {} | json | unwrap duration_ms | __error__="" [5m]) by (http_route)'
            },
        ],
        "/api/traces": [{"min_duration": "5s", "limit": 10}, {"sort": "most_spans", "tags": "error=true"}],
        "/api/traces/{trace_id}": [{"trace_id": trace_id}],
        "/api/database/sessions": [{"state": "idle in transaction", "min_age": 60}, {"at": "now-100m"}],
        "/api/database/history": [{"by": "state"}, {"by": "application", "from": "now-2h"}],
        "/api/jobs": [{}],
        "/api/jobs/runs": [{"outcome": "success"}],
        "/api/jobs/per_minute": [{"from": "now-1h"}],
        "/api/alerts": [{"from": "now-30m"}],
        "/api/code": [{}],
        "/api/code/file": [{"path": "platform_api/lib/database/transactions.py"}],
        "/api/code/releases": [{}],
        "/api/code-search": [{"q": "def transaction"}],
        "/api/v1/query": [{"query": PROMQL}, {"query": "1/0", "time": repr(end - 600)}],
        "/api/v1/query_range": [
            {"query": QUANTILE, "start": repr(end - 1800), "end": repr(end), "step": "1m"}
        ],
        "/api/v1/series": [{"match[]": "db_client_connection_count"}],
        "/api/v1/labels": [{}],
        "/api/v1/label/{name}/values": [{"name": "db_client_connection_state", "limit": 1}],
        "/api/v1/metadata": [{"metric": "db_client_connection_count"}],
    }
    assert set(calls) == set(openapi.document()["paths"])
    answers = {}
    for template, examples in calls.items():
        for params in examples:
            path = template.format(**params)
            query = {k: v for k, v in params.items() if "{" + k + "}" not in template}
            status, body = get(client, spec, path, query)
            assert status == 200, (path, query, body)
            answers.setdefault(template, body)

    # What the answers say is what the recording holds, not merely well-formed.
    pool = {
        s["labels"]["db_client_connection_state"]: s["value"] for s in answers["/api/metrics/query"]["series"]
    }
    assert pool == {"used": 200.0, "idle": 0.0}  # the leak holds the whole pool at the end
    prometheus = answers["/api/v1/query"]["data"]["result"]  # and Prometheus's API says the same
    assert {s["metric"]["db_client_connection_state"]: s["value"][1] for s in prometheus} == {
        "used": "200",
        "idle": "0",
    }
    assert answers["/api/overview"]["gateway_5xx_percent"] > 20  # the exhausted pool fails most requests
    states = {rule["name"]: rule["state"] for rule in answers["/api/alerts"]["rules"]}
    assert states["PlatformApiAvailabilitySLOBurn"] == "firing"  # and the availability page is out
    sessions = answers["/api/database/sessions"]
    assert sessions["snapshot"] <= end and sessions["counts_by_state"]["idle in transaction"] == len(
        sessions["sessions"]
    )
    assert all(
        s["state"] == "idle in transaction" and end - s["xact_start"] >= 60 for s in sessions["sessions"]
    )
    spans = answers["/api/traces/{trace_id}"]["spans"]
    assert spans[0]["parent_id"] is None and spans[0]["depth"] == 0
    assert any(span["status"] == "error" for span in spans)
    lines = answers["/api/code/file"]["lines"]
    hits = answers["/api/code-search"]["matches"]
    assert any(hit["path"] == "platform_api/lib/database/transactions.py" for hit in hits)
    assert all(
        "def transaction" in lines[hit["line"] - 1] for hit in hits if hit["path"].endswith("transactions.py")
    )
    assert answers["/api/metrics/query"]["warnings"] == answers["/api/metrics/query_range"]["warnings"] == []
    _, typo = get(
        client, spec, "/api/metrics/query_range", {"query": "http_server_requst_duration_seconds_count"}
    )
    assert (
        typo["series"] == []
        and "did you mean http_server_request_duration_seconds_count" in typo["warnings"][0]
    )
    volume = answers["/api/logs/volume"]
    _, matching = get(
        client, spec, "/api/logs", {"query": '{level="error"} |= "timed out"', "from": "now-1h"}
    )
    assert sum(sum(counts) for counts in volume["levels"].values()) == matching["total"] > 0


def test_trace_search_orders_as_jaeger_does(client, spec, dataset_path) -> None:
    answers = {
        sort: get(client, spec, "/api/traces", {"sort": sort, "from": "now-1h", "limit": 20})[1]
        for sort in ("", *SORTS)
    }
    assert answers[""] == answers["recent"] and answers["recent"]["sort"] == "recent"
    assert len({answer["total"] for answer in answers.values()}) == 1, "the same traces, in another order"
    column = {
        sort: [(t["start"], t["duration"], t["spans"]) for t in answers[sort]["traces"]] for sort in SORTS
    }
    assert column["recent"] == sorted(column["recent"], key=lambda t: -t[0])
    assert column["longest"] == sorted(column["longest"], key=lambda t: (-t[1], -t[0]))
    assert column["shortest"] == sorted(column["shortest"], key=lambda t: (t[1], -t[0]))
    assert column["most_spans"] == sorted(column["most_spans"], key=lambda t: (-t[2], -t[0]))
    window = answers["recent"]["range"]
    with Dataset.open(dataset_path) as dataset:
        longest, most = dataset.connection.execute(
            # a trace lasts from its first span's start to its last span's end, as Jaeger shows it
            "SELECT (SELECT max(d) FROM (SELECT max(start + duration) - min(start) AS d FROM spans"
            "  WHERE trace_id IN (SELECT trace_id FROM spans WHERE parent_span_id IS NULL AND start BETWEEN ?1 AND ?2)"
            "  GROUP BY trace_id)),"
            " (SELECT max(n) FROM (SELECT count(*) AS n FROM spans WHERE trace_id IN (SELECT trace_id FROM spans"
            "  WHERE parent_span_id IS NULL AND start BETWEEN ?1 AND ?2) GROUP BY trace_id))",
            (window["start"], window["end"]),
        ).fetchone()
    assert column["longest"][0][1] == pytest.approx(longest) and column["most_spans"][0][2] == most
    assert column["longest"][0][1] > 10 * max(t[1] for t in column["recent"]), "the timeouts, not the newest"


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/metrics/query_range", {"query": "sum(rate(x[5m)"}, 400, "bracket"),
        ("/api/metrics/query_range", {"query": PROMQL, "from": "now", "to": "now-1h"}, 400, "before"),
        ("/api/metrics/query_range", {"query": PROMQL, "step": "0.001"}, 400, "step"),
        ("/api/metrics/labels", {"metric": "no_such_metric"}, 404, "unknown metric"),
        ("/api/logs", {"query": '{level="error"'}, 400, ""),
        ("/api/logs", {"offset": "-5"}, 400, "offset: must be between 0"),
        ("/api/traces", {"min_duration": "fast"}, 400, "duration"),
        ("/api/traces", {"limit": "100000"}, 400, "limit: must be between 1 and 500"),
        ("/api/traces", {"sort": "oldest"}, 400, "sort: unknown value 'oldest'; use one of: recent, longest"),
        ("/api/traces", {"tags": "db.statement=~SELECT.*"}, 400, "not a pattern"),
        ("/api/traces", {"tags": "url.path!=/health"}, 400, "a tag matches one exact value"),
        ("/api/traces", {"tags": "http.route=/x http.response.status_code>=500"}, 400, "status_code>=500"),
        ("/api/traces", {"tags": "http.route="}, 400, "http.route has no value"),
        ("/api/traces", {"tags": "error=false"}, 400, "only error=true"),
        ("/api/traces", {"tags": "status=error"}, 400, "no span in this recording has the tag 'status'"),
        (
            "/api/metrics/query",
            {"query": PROMQL, "time": "2026-03-10T15:00:00Z"},
            400,
            "unknown query parameter 'time'",
        ),
        (
            "/api/metrics/query_range",
            {"query": PROMQL, "start": "now-2h", "end": "now-1h"},
            400,
            "'start', 'end'",
        ),
        ("/api/logs", {"limit": "5000"}, 400, "unknown query parameter 'limit'"),
        ("/api/code-search", {"q": "def", "limit": "1000"}, 400, "unknown query parameter 'limit'"),
        ("/api/traces/{trace_id}", {"trace_id": "0" * 32, "at": "now"}, 400, "takes no query parameters"),
        ("/api/traces/{trace_id}", {"trace_id": "0" * 32}, 404, "no trace"),
        ("/api/traces/{trace_id}", {"trace_id": "not-a-trace"}, 404, "not a trace id"),
        ("/api/database/sessions", {"state": "sleeping"}, 400, "state: unknown value"),
        ("/api/database/sessions", {"at": "yesterday"}, 400, "at"),
        ("/api/database/history", {"by": "pid"}, 400, "by: unknown value"),
        ("/api/jobs/runs", {"job": "no_such_job"}, 400, "unknown job"),
        ("/api/code/file", {"path": "../scenarios/connection-leak/fix.patch"}, 404, "no such file"),
        ("/api/code/file", {"path": "/etc/passwd"}, 404, "no such file"),
        ("/api/code-search", {"q": "x" * 201}, 400, "200 characters"),
    ],
)
def test_bad_input_gets_a_clear_documented_refusal(client, spec, path, params, status, says) -> None:
    url = path.format(**params)
    query = {k: v for k, v in params.items() if "{" + k + "}" not in path}
    got, body = get(client, spec, url, query)
    assert got == status, body
    assert says.lower() in body["error"].lower()
    assert "Traceback" not in body["error"]
