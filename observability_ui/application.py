"""The candidate's observability platform: one Flask app over one dataset.

Every page is server-rendered; charts are plotly figures rendered in the browser from JSON the
server computes.  The time range travels in every URL as ``from``/``to`` (see :mod:`timerange`),
so every link and every zoom keeps it.  Nothing here serves anything but the dataset and the
read-only code of ``app_under_test``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from interview.store import InterviewStore
from observability_ui import (
    candidate_api,
    candidate_session,
    console,
    openapi,
    params,
    request_context,
    views,
)
from observability_ui.day import Day
from observability_ui.json_provider import OrjsonProvider
from observability_ui.query import budget
from observability_ui.query.promql_store import MetricCaches, MetricStore
from observability_ui.request_context import DEFAULT_METRIC_MEMORY_MB, METRIC_CACHE, UiError, close_dataset
from observability_ui.views import database, loki_api, overview, prometheus_api
from obsim.dataset.reader import Dataset
from obsim.scenario import Scenario
from obsim.timerange import PRESETS, format_utc

PLOTLY_JS = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"


def create_app(
    dataset_dir: Path,
    brief: str = "",
    preload: bool = False,
    interviews: InterviewStore | None = None,
    incident: Scenario | None = None,
    public_url: str | None = None,
    more_incidents: Sequence[candidate_session.Served] = (),
    day: Day | None = None,
    metric_memory_mb: int = DEFAULT_METRIC_MEMORY_MB,
) -> Flask:
    """The candidate app over the dataset at ``dataset_dir``; ``brief`` is the incident text shown.

    ``preload`` reads every metric series (and the log records' times and streams) into memory in
    the background, so the first dashboard a candidate opens does not wait for it (a server does this; a test app need not).  With
    ``interviews`` (and the ``incident`` being run) the platform becomes an interview: candidates
    need their link, everything they do is recorded, and the interviewer's console is served; its
    links are built on ``public_url``, where candidates reach the server.  ``more_incidents`` are
    further scenarios the same interview server runs, each over its own dataset: a candidate's
    requests read their own session's; on an interview ``day`` also every scenario whose dataset
    becomes ready.  ``dataset_dir`` may be one the ``day`` is still preparing (``obsim run`` on a
    cold cache): until it is ready its candidates are told their environment is being set up.  The
    metric and log arrays read are kept per dataset, past ``metric_memory_mb`` only the most
    recently used datasets'.
    """
    served = [candidate_session.Served(incident, dataset_dir)] if incident is not None else []
    served += more_incidents
    # a dataset the day has yet to prepare is checked by its generation: served once published
    present = {dataset_dir, *(s.dataset for s in served)} - (day.pending() if day is not None else set())
    for directory in present:
        with Dataset.open(directory):  # refuse a broken dataset at start-up, not on first request
            pass
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config["OBSIM_DATASET"] = str(dataset_dir)
    app.config["OBSIM_BRIEF"] = brief.strip()
    app.extensions[METRIC_CACHE] = MetricCaches(metric_memory_mb * 1_000_000)
    if preload:

        def preload_metrics(directory: Path) -> None:
            threading.Thread(
                target=_preload_metrics, args=(app, directory), name="preload-metrics", daemon=True
            ).start()

        for directory in present:
            preload_metrics(directory)
        if day is not None:
            day.when_ready(preload_metrics)

    for blueprint in views.BLUEPRINTS:
        app.register_blueprint(blueprint)
    if interviews is not None:
        if not served or any(s.scenario.ground_truth is None for s in served):
            raise ValueError("an interview needs the faulty scenarios it runs")
        if public_url is None:
            raise ValueError("an interview needs the public URL its links are built on")
        app.register_blueprint(candidate_session.bp)
        app.register_blueprint(candidate_api.bp)
        app.register_blueprint(console.bp)
        candidate_session.install(app, interviews, {s.scenario.id: s for s in served}, public_url, day)
    # After the interview's own check: a request without the candidate's link is refused for that.
    app.before_request(_read_query)

    @app.teardown_appcontext
    def _close(_: BaseException | None) -> None:
        close_dataset()

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"brief": request_context.brief(), "presets": PRESETS, "format_utc": format_utc}

    @app.errorhandler(UiError)
    def _ui_error(error: UiError) -> Any:
        g.error_message = error.message  # the interview's timeline says why a request was refused
        if prometheus_api.is_prometheus_api(request.path):
            return prometheus_api.error_response(error.message, error.status)
        if request.path.startswith("/api/"):
            return {"error": error.message}, error.status
        return _error_page(error.message), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        g.error_message = str(error.description)
        if prometheus_api.is_prometheus_api(request.path):
            return prometheus_api.error_response(str(error.description), error.code or 500)
        if request.path.startswith("/api/") or loki_api.is_loki_api(request.path):
            return {"error": error.description}, error.code
        return _error_page(error.description), error.code

    @app.errorhandler(sqlite3.OperationalError)
    def _interrupted(error: sqlite3.OperationalError) -> Any:
        """A statement the request's time budget interrupted, in any view, is answered as such."""
        cancelled = budget.cancellation(error)
        return _unexpected(error) if cancelled is None else _ui_error(cancelled)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        app.logger.exception("unhandled error on %s", request.path)
        message = "Something went wrong on this page. Try another time range or query."
        g.error_message = message
        if prometheus_api.is_prometheus_api(request.path):
            return prometheus_api.error_response(message, 500)
        if request.path.startswith("/api/"):
            return {"error": message}, 500
        return _error_page(message), 500

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    return app


def _read_query() -> None:
    """The one validation layer (:mod:`params`): read the query of every API call and page by its
    OpenAPI schema before the view runs.  A parameter the endpoint does not take, or one given
    twice, is refused outright, as is an ``/api/`` call with any value that cannot be used; a page
    keeps those problems for its view to show beside the input, the rest of the page still drawn."""
    if request.url_rule is None or request.endpoint is None:
        return
    parameters = openapi.parameters_for(request.endpoint, request.url_rule.rule)
    if parameters is None:
        return
    # Prometheus's API takes its parameters in a form body too (promtool and Grafana POST them).
    given = request.values if prometheus_api.is_prometheus_api(request.path) else request.args
    problem = openapi.undocumented_query(
        openapi.path_of(request.url_rule.rule),
        [parameter["name"] for parameter in parameters],
        given.to_dict(flat=False),
        [parameter["name"] for parameter in parameters if parameter["schema"].get("type") == "array"],
    )
    if problem is not None:
        raise UiError(problem)
    values, errors = params.read(parameters, given)
    if errors and request.path.startswith("/api/"):
        raise UiError("; ".join(errors.values()))
    params.store(values, errors)


def _error_page(message: str) -> str:
    """The error page, whose link opens the view that failed without its query: built from the
    endpoint Flask matched, never from the raw path, which is the requester's (``/\\evil.example``
    would be a link off the platform); with no view matched, the overview."""
    endpoint, arguments = request.endpoint, request.view_args or {}
    if endpoint is None or request.url_rule is None or "GET" not in (request.url_rule.methods or ()):
        endpoint, arguments = "overview.page", {}
    return render_template("error.html", message=message, reset_url=url_for(endpoint, **arguments))


def _preload_metrics(app: Flask, directory: Path) -> None:
    with Dataset.open(directory) as dataset:
        store = MetricStore(dataset, app.extensions[METRIC_CACHE].get(str(directory)))
        store.arrays(meta for name in store.metric_names() for meta in store.series(name))
        store.log_streams()
        if not dataset.recording:  # the overview's panels and the session history: ranges slice these
            for query in (query for panel in overview.PANELS for query in panel.queries):
                overview.whole_recording(store, query.expr)
            for column in ("state", "application_name"):
                database.whole_history(store, dataset.connection, column)
    app.extensions[METRIC_CACHE].trim()
