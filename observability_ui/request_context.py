"""Per-request access to the dataset and the time range, the queries' time budget, and the error a
view raises for bad input (:class:`UiError`)."""

from __future__ import annotations

from flask import current_app, g, request

from observability_ui.query import budget
from observability_ui.query.promql_store import MetricCache, MetricCaches
from observability_ui.ui_error import UiError
from obsim.dataset.reader import Dataset
from obsim.timerange import WHOLE_RECORDING, TimeRange, TimeRangeError, resolve, resolve_instant

__all__ = [
    "METRIC_CACHE",
    "UiError",
    "brief",
    "close_dataset",
    "dataset",
    "dataset_dir",
    "instant",
    "metric_cache",
    "showed",
    "time_range",
]

#: app.extensions key: what has been read of each dataset's metrics (:class:`MetricCaches`, by
#: dataset directory), shared by every request (and candidate) reading that dataset
METRIC_CACHE = "obsim_metric_cache"
#: megabytes of metric arrays kept across datasets before the least recently used datasets' are
#: dropped (a server for a day over every scenario must not hold them all); ``--metric-memory-mb``
DEFAULT_METRIC_MEMORY_MB = 1024
QUERY_BUDGET = "OBSIM_QUERY_BUDGET_S"  # app.config key: seconds a request's queries may take


def dataset_dir() -> str:
    """The dataset this request reads: its candidate's session's (``g.dataset_dir``, set by the
    interview for a server running several scenarios), else the one the app was started on."""
    return str(g.get("dataset_dir") or current_app.config["OBSIM_DATASET"])


def brief() -> str:
    """The incident brief shown with this request's dataset."""
    return str(g.get("brief") or current_app.config["OBSIM_BRIEF"])


def metric_cache() -> MetricCache:
    """What has been read of this request's dataset's metrics: one cache per dataset, never mixed."""
    caches: MetricCaches = current_app.extensions[METRIC_CACHE]
    return caches.get(dataset_dir())


def dataset() -> Dataset:
    """This request's dataset (:func:`dataset_dir`), opened once per request (SQLite connections
    belong to one thread); a live recording is thereby reread, manifest and all, on every request.

    Opening it starts the request's query budget: every query a view runs goes through this
    connection, so from here its statements are cut at the deadline and the engines' loops check it.
    """
    if "dataset" not in g:
        opened = Dataset.open(dataset_dir())
        seconds = current_app.config.get(QUERY_BUDGET, budget.QUERY_BUDGET_S)
        spending = budget.QueryBudget(min(seconds, g.get("budget_s", seconds)))  # a shorter one asked for
        spending.watch(opened.connection)
        g.budget_token = budget.activate(spending)
        g.dataset = opened
    return g.dataset


def close_dataset() -> None:
    """End the request's dataset use; metric arrays it read may have taken the caches past their
    memory budget, so they are trimmed now, when this request's arrays count too."""
    opened = g.pop("dataset", None)
    if opened is not None:
        budget.deactivate(g.pop("budget_token"))
        opened.close()
        current_app.extensions[METRIC_CACHE].trim()


def time_range(default: str = WHOLE_RECORDING) -> TimeRange:
    """The request's time range, or a :class:`UiError` explaining what is wrong with it."""
    if "time_range" not in g:
        try:
            g.time_range = resolve(
                request.args.get("from"), request.args.get("to"), dataset().window(), default
            )
        except TimeRangeError as error:
            raise UiError(str(error)) from None
    return g.time_range


def showed(start: float, end: float) -> None:
    """Say what simulated time the page showed when that is not its requested range: one trace
    shows its own spans, whatever range its links carry.  The interview records it, so opening a
    trace counts as evidence seen at the trace's time (:mod:`observability_ui.candidate_session`)."""
    g.shown_range = (start, end)


def instant(default: float) -> float:
    """The ``at`` parameter (an instant for tables such as pg_stat_activity), or ``default``."""
    raw = request.args.get("at", "").strip()
    if not raw:
        return default
    try:
        return resolve_instant(raw, dataset().window())
    except TimeRangeError as error:
        raise UiError(f"at: {error}") from None
