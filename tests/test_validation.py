"""The one validation layer (``observability_ui/params.py``): every query parameter of every API call
and page is read by its OpenAPI schema, so bad input gets a clear 400 and is never silently used,
ignored or answered with a 500.

Three kinds of test: the layer's rules on single values; the inputs found answering 500 or being
silently ignored on the platform, each on the API and on its page; and a property-based run of
schemathesis over the whole OpenAPI document, in process, against the hand-made dataset (no
generation): no 5xx for any input, and no input the document calls invalid answered 2xx.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection, status_code_conformance

from observability_ui import openapi, params, views
from observability_ui.application import create_app
from observability_ui.request_context import UiError

TRACE = "0" * 32
HUGE = "9" * 5000


@pytest.fixture(scope="module")
def app(handmade_dataset: Path) -> Flask:
    app = create_app(handmade_dataset)
    app.testing = True
    return app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- the layer's rules, one value at a time -------------------------------------------------------

LIMIT = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 500}, {"const": ""}]}
STEP = {"type": "number", "minimum": 1, "maximum": 86400}


@pytest.mark.parametrize(
    ("raw", "schema", "expected"),
    [
        ("25", LIMIT, 25),
        ("", LIMIT, ""),
        ("0.5", {"type": "number", "minimum": 0}, 0.5),
        ("15", STEP, 15.0),
        ("hide", {"type": "string", "enum": ["", "hide"]}, "hide"),
        ("now-5m", {"type": "string", "format": "instant"}, "now-5m"),
    ],
)
def test_a_value_its_schema_admits_is_read_as_its_type(raw: str, schema: dict, expected: Any) -> None:
    value = params.check(raw, schema)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "schema", "says"),
    [
        ("1_000", LIMIT, "whole number in ASCII digits"),  # int() takes it
        ("٣", LIMIT, "whole number in ASCII digits"),  # and this Arabic-Indic three
        (" 5", LIMIT, "whole number in ASCII digits"),
        ("5.0", LIMIT, "whole number in ASCII digits"),
        (HUGE, LIMIT, "is out of range"),  # more digits than int() reads
        ("501", LIMIT, "between 1 and 500, not 501"),
        ("nan", STEP, "number in ASCII digits"),  # float() takes these four
        ("inf", STEP, "number in ASCII digits"),
        ("1e300", STEP, "number in ASCII digits"),
        ("1_5", STEP, "number in ASCII digits"),
        ("9" * 400, STEP, "is out of range"),  # float() makes it inf
        ("0.5", STEP, "between 1 and 86400, not 0.5"),
        ("-1", {"type": "number", "minimum": 0}, "must be at least 0, not -1"),
        ("7", {"type": "integer", "maximum": 5}, "must be at most 5, not 7"),
        ("true", {"type": "string", "enum": ["", "1"]}, "unknown value 'true'; use one of: 1"),
        ("x" * 201, {"type": "string", "maxLength": 200}, "longer than 200 characters"),
        (
            "abc",
            {"type": "string", "pattern": "^[0-9]*$"},
            "cannot read 'abc': see /api/openapi.json",
        ),
        ("nan", {"type": "string", "format": "instant"}, "cannot read 'nan' as a time"),
    ],
)
def test_a_value_its_schema_refuses_is_refused_saying_why(raw: str, schema: dict, says: str) -> None:
    with pytest.raises(params.Invalid, match=re.escape(says)):
        params.check(raw, schema)


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    assert params.known("job", "", ["a"]) == "" and params.known("job", "a", ["a"]) == "a"
    with pytest.raises(UiError, match=r"^unknown job 'x'; use one of: a, b$"):
        params.known("job", "x", ["a", "b"])
    with pytest.raises(UiError, match=r"use one of: \(none recorded\)$"):
        params.known("service", "x", [])
    many = [f"GET /api/v1/users/{n}" for n in range(100)] + ["GET /api/v1/workflows"]
    with pytest.raises(
        UiError, match=r"'GET /api/v1/workflow'; 101 are known, among them: GET /api/v1/workflows,"
    ):
        params.known("operation", "GET /api/v1/workflow", many)  # the closest first, not all 101


def _parameter_schemas() -> list[tuple[str, str, dict]]:
    everything = [
        (path, parameter) for path, item in openapi.PATHS.items() for parameter in item["get"]["parameters"]
    ] + [(endpoint, parameter) for endpoint, listed in openapi.PAGES.items() for parameter in listed]
    found = []
    for where, parameter in everything:
        stack = [parameter["schema"]]
        while stack:
            schema = stack.pop()
            found.append((where, parameter["name"], schema))
            stack.extend(schema.get("anyOf", []))
    return found


def test_every_rule_the_document_states_is_one_the_layer_enforces() -> None:
    """A schema keyword the layer does not apply would promise a check nothing makes."""
    for where, name, schema in _parameter_schemas():
        unenforced = set(schema) - params.ENFORCED - params.DOCUMENTING
        assert not unenforced, (where, name, unenforced)
        assert schema.get("format") in {None, *params.FORMATS}, (where, name)


def test_every_page_and_api_route_is_checked_by_the_layer(app: Flask) -> None:
    """Every GET route the platform serves has its parameters in the document (or in ``PAGES``), so
    none reads a parameter the layer has not: only static files, and Loki's paths (which read
    nothing: whatever they are asked, the answer is that Loki's API is not offered), are left out."""
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and rule.endpoint not in {
            "static",
            "assets.plotly",
            "loki_api.not_offered",
        }:
            assert openapi.parameters_for(rule.endpoint, rule.rule) is not None, rule.rule


# --- the inputs found answering 500, or silently ignored ------------------------------------------

BAD_TIMES = [
    ("inf", "cannot read 'inf' as a time"),
    ("nan", "cannot read 'nan' as a time"),
    ("1e300", "cannot read '1e300' as a time"),
    ("-1e300", "cannot read '-1e300' as a time"),
    ("now-99999999999999d", "reaches back more than 3660 days"),
    ("now-١h", "cannot read 'now-١h' as a time"),
    ("1_773_151_200", "cannot read '1_773_151_200'"),
    ("9" * 60, "is not a time between 1970 and 9999"),
    (HUGE, "longer than 64 characters"),
    ("99999999999999999", "is not a time between 1970 and 9999"),  # as milliseconds, past 9999
]
RANGE_ENDPOINTS = [
    "/api/overview",
    "/api/metrics/query_range?query=up",
    "/api/metrics/query?query=up",
    "/api/logs",
    "/api/logs/volume",
    "/api/traces",
    "/api/database/sessions",
    "/api/database/history",
    "/api/jobs",
    "/api/jobs/runs",
    "/api/jobs/per_minute",
]


def _with(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.mark.parametrize("url", RANGE_ENDPOINTS)
@pytest.mark.parametrize(("typed", "says"), BAD_TIMES)
@pytest.mark.parametrize("name", ["from", "to"])
def test_a_time_that_is_no_time_is_refused_by_every_api_endpoint(client, url, typed, says, name) -> None:
    response = client.get(_with(url, f"{name}={typed}"))
    assert response.status_code == 400, response.get_json()
    assert f"{name}: " in response.get_json()["error"] and says in response.get_json()["error"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # the same instant before the recording was snapped to the first snapshot by one, refused by the other
        ("/api/database/sessions?at=0", "at: 1970-01-01 00:00:00 UTC is outside the recorded window"),
        ("/api/metrics/query?query=up&at=0", "at: 1970-01-01 00:00:00 UTC is outside the recorded window"),
        (
            "/api/database/sessions?at=2099-01-01",
            "at: 2099-01-01 00:00:00 UTC is outside the recorded window",
        ),
        ("/api/database/sessions?at=nan", "at: cannot read 'nan' as a time"),
        ("/api/metrics/query?query=up&at=" + "1" * 65, "at: longer than 64 characters"),
        ("/api/metrics/query_range?query=up&step=nan", "step: must be a number in ASCII digits"),
        ("/api/metrics/query_range?query=up&step=1e300", "step: must be a number in ASCII digits"),
        ("/api/metrics/query_range?query=up&step=" + HUGE, "step: '99999"),
        ("/api/metrics/query_range?query=up&step=١٥", "step: must be a number in ASCII digits"),
        ("/api/metrics/query_range?query=up&step=999999", "step: must be between 1 and 86400"),
        ("/api/metrics/query_range", "query is required"),
        ("/api/metrics/labels", "metric is required"),
        ("/api/logs?offset=99999999999999999999999", "offset: must be between 0 and 1e+09"),
        ("/api/logs?offset=" + HUGE, "offset: '99999"),
        ("/api/logs?offset=1_000", "offset: must be a whole number in ASCII digits"),
        ("/api/logs?offset=-5", "offset: must be between 0"),
        ("/api/logs?level=fatal", "level: unknown value 'fatal'; use one of: debug, info, warning, error"),
        ("/api/logs?service=nope", "unknown service 'nope'; use one of:"),
        ("/api/logs?trace_id=xyz", "trace_id: cannot read 'xyz'"),
        ("/api/logs?query={}&level=error", "give either query or the filters"),
        ("/api/logs/volume?query={}&service=gateway", "give either query or the filters"),
        ("/api/traces?errors=true", "errors: unknown value 'true'; use one of: 1"),
        ("/api/traces?errors=yes", "errors: unknown value 'yes'"),
        ("/api/traces?errors=0", "errors: unknown value '0'"),
        ("/api/traces?limit=1_000", "limit: must be a whole number in ASCII digits, not '1_000'"),
        ("/api/traces?limit=٣", "limit: must be a whole number in ASCII digits"),
        ("/api/traces?limit=" + HUGE, "limit: '99999"),
        ("/api/traces?limit=0", "limit: must be between 1 and 500, not 0"),
        ("/api/traces?min_duration=1e300", "min_duration: cannot read '1e300'"),
        ("/api/traces?min_duration=2s&max_duration=1s", "max_duration is below min_duration"),
        ("/api/traces?service=nope", "unknown service 'nope'; use one of:"),
        ("/api/traces?operation=GET%20/nope", "unknown operation 'GET /nope'; use one of:"),
        ("/api/traces?sort=oldest", "sort: unknown value 'oldest'; use one of: recent, longest"),
        ("/api/database/sessions?min_age=nan", "min_age: must be a number in ASCII digits"),
        ("/api/database/sessions?min_age=-3", "min_age: must be between 0"),
        (
            "/api/database/sessions?state=sleeping",
            "state: unknown value 'sleeping'; use one of: active, idle",
        ),
        ("/api/database/sessions?application=nope", "unknown application 'nope'; use one of:"),
        ("/api/database/history?by=pid", "by: unknown value 'pid'; use one of: state, application"),
        ("/api/jobs/runs?job=nope", "unknown job 'nope'; use one of:"),
        ("/api/jobs/runs?outcome=ok", "outcome: unknown value 'ok'; use one of: success, error"),
        ("/api/code/file?path=" + "a/" * 150, "path: longer than 200 characters"),
        ("/api/code-search", "q is required"),
        ("/api/code-search?q=", "q is required"),
        ("/api/code-search?q=%20%20", "q: cannot read '  ': Text to find (not only spaces)"),
        ("/api/code-search?q=" + "x" * 201, "q: longer than 200 characters"),
    ],
)
def test_each_input_found_failing_or_ignored_is_a_clear_400(client, url, says) -> None:
    response = client.get(url)
    assert response.status_code == 400, response.get_json()
    assert says in response.get_json()["error"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/?from=inf", "from: cannot read 'inf' as a time"),
        ("/?deploys=show", "deploys: unknown value 'show'; use one of: hide"),
        ("/metrics?query=up&from=1e300", "from: cannot read '1e300' as a time"),
        ("/metrics?query=up&mode=table&at=0", "at: 1970-01-01 00:00:00 UTC is outside the recorded window"),
        ("/metrics?query=up&at=nan", "at: cannot read 'nan' as a time"),  # graph mode reads it too
        ("/metrics?mode=chart", "mode: unknown value 'chart'; use one of: graph, table"),
        ("/metrics?metric=nope", "unknown metric 'nope'; use one of:"),
        ("/logs?to=-1e300", "to: cannot read '-1e300' as a time"),
        ("/logs?offset=99999999999999999999999", "offset: must be between 0 and 1e+09"),
        ("/logs?level=fatal", "level: unknown value 'fatal'"),
        ("/logs?service=nope", "unknown service 'nope'"),
        ("/logs?query=%7B%7D&contains=x", "give either query or the filters"),
        ("/traces?from=now-99999999999999d", "reaches back more than 3660 days"),
        ("/traces?errors=true", "errors: unknown value 'true'"),
        ("/traces?limit=1_000", "limit: must be a whole number in ASCII digits"),
        ("/traces?service=nope", "unknown service 'nope'"),
        (f"/traces/{TRACE}?from=nan", "from: cannot read 'nan' as a time"),
        ("/database?at=0", "at: 1970-01-01 00:00:00 UTC is outside the recorded window"),
        ("/database?min_age=inf", "min_age: must be a number in ASCII digits"),
        ("/database?application=nope", "unknown application 'nope'"),
        ("/jobs?job=nope", "unknown job 'nope'"),
        ("/jobs?outcome=ok", "outcome: unknown value 'ok'"),
        ("/code/README.md?line=" + HUGE, "line: longer than 16 characters"),
        ("/code/README.md?line=twelve", "line: cannot read 'twelve'"),
        ("/code/README.md?line=9-3", "line: the range 9-3 ends before it starts"),
        ("/code/?line=%C2%84", "line: cannot read"),  # the file list once ignored any line
        ("/code/?line=12", "line: pick a file to highlight its lines in"),
        ("/code-search", "q is required"),
        ("/code-search?q=" + "x" * 201, "q: longer than 200 characters"),
        ("/logs?limit=5", "unknown query parameter 'limit': /logs accepts from, to, query"),
        ("/jobs?job=a&job=b", "query parameter 'job' given more than once"),
    ],
)
def test_the_pages_refuse_the_same_input_with_a_400_that_says_why(client, url, says) -> None:
    response = client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert str(escape(says)) in page, page[page.find("<main>") :][:2000]
    assert "Something went wrong" not in page


def test_a_code_path_longer_than_any_file_is_no_file(client) -> None:
    """A 300-character path once reached the file system and failed there."""
    assert client.get("/code/" + "a" * 300).status_code == 404
    assert client.get("/code/" + "a/" * 150).status_code == 404


def test_an_empty_value_is_the_default_as_a_form_sends_it(client) -> None:
    """An untouched form field comes as ``name=``: it means the default, wherever it is sent."""
    for url in (
        "/api/traces?limit=&errors=&sort=&min_duration=&service=",
        "/api/logs?offset=&level=&query=",
        "/api/database/sessions?at=&min_age=&state=&sort=&application=",
        "/api/metrics/query_range?query=up&step=&from=&to=",
        "/traces?limit=&errors=&sort=",
        "/database?at=&min_age=&state=&sort=&application=",
    ):
        assert client.get(url).status_code == 200, url


# --- the error page's link ------------------------------------------------------------------------


def _reset_link(page: str) -> str:
    found = re.search(r'<a href="([^"]*)" data-testid="reset">', page)
    assert found, page
    return found.group(1)


@pytest.mark.parametrize("path", ["/\\evil.example/x", "//evil.example/x", "/%5Cevil.example"])
def test_the_error_page_never_links_to_the_path_as_requested(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert _reset_link(response.get_data(as_text=True)) == "/"


def test_the_error_page_links_to_its_view_without_the_bad_input(client) -> None:
    response = client.get("/jobs?job=nope&from=now-1h")
    assert response.status_code == 400
    assert _reset_link(response.get_data(as_text=True)) == "/jobs"
    missing = client.get("/code/lib/nope.py?line=3")
    assert _reset_link(missing.get_data(as_text=True)) == "/code/lib/nope.py"


# --- the whole document, property-based -----------------------------------------------------------


# The document as served: read from its JSON, as a client reads it (schemathesis rewrites the schemas
# it is given in place, which would change the app's own), bounded and derandomized so that a run
# is the same run and takes well under a minute.
api_schema = schemathesis.openapi.from_dict(json.loads(json.dumps(openapi.document())))
api_schema.config.generation.update(
    modes=["positive", "negative"], max_examples=40, deterministic=True, database="none"
)


@api_schema.parametrize()
def test_no_input_gets_a_5xx_and_no_invalid_input_a_2xx(case: Any, app: Flask) -> None:
    """Bodies are held to the document by tests/test_ui_api.py (openapi-core); here the statuses:
    never a 5xx, never a 2xx for what the document calls invalid, and only documented ones."""
    case.call_and_validate(
        app=app,
        checks=[
            not_a_server_error,
            negative_data_rejection,
            status_code_conformance,
        ],
    )


def _pages_document() -> dict[str, Any]:
    """The pages as an OpenAPI document of their own: each page's rule with the parameters the layer
    reads it by (``openapi.PAGES``), so that the same property is tested on the HTML twins."""
    site = Flask(__name__)
    for blueprint in views.BLUEPRINTS:
        site.register_blueprint(blueprint)
    paths = {}
    for rule in site.url_map.iter_rules():
        if rule.endpoint in openapi.PAGES:
            in_path = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                for name in sorted(rule.arguments)
            ]
            paths[openapi.path_of(rule.rule)] = {
                "get": {
                    "parameters": in_path + openapi.PAGES[rule.endpoint],
                    "responses": {"default": {"description": "the page, or the page with the refusal"}},
                }
            }
    return {"openapi": "3.1.0", "info": {"title": "obsim pages", "version": "1"}, "paths": paths}


page_schema = schemathesis.openapi.from_dict(json.loads(json.dumps(_pages_document())))
page_schema.config.generation.update(
    modes=["positive", "negative"], max_examples=25, deterministic=True, database="none"
)


@page_schema.parametrize()
def test_no_page_answers_a_5xx_or_a_2xx_to_invalid_input(case: Any, app: Flask) -> None:
    case.call_and_validate(app=app, checks=[not_a_server_error, negative_data_rejection])
