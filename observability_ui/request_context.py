"""Per-request access to the dataset and the time range, and the error a view raises for bad input."""

from __future__ import annotations

from flask import current_app, g, request

from observability_ui.timerange import TimeRange, TimeRangeError, resolve, resolve_instant
from obsim.dataset.reader import Dataset

METRIC_CACHE = "obsim_metric_cache"  # app.extensions key: what has been read of the metrics, shared


class UiError(Exception):
    """A candidate's input that cannot be served; shown on the page, 400 from the JSON API."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def dataset() -> Dataset:
    """The dataset, opened once per request (SQLite connections belong to one thread); a live
    recording is thereby reread, manifest and all, on every request."""
    if "dataset" not in g:
        g.dataset = Dataset.open(current_app.config["OBSIM_DATASET"])
    return g.dataset


def close_dataset() -> None:
    opened = g.pop("dataset", None)
    if opened is not None:
        opened.close()


def time_range(default: str = "now-1h") -> TimeRange:
    """The request's time range, or a :class:`UiError` explaining what is wrong with it."""
    if "time_range" not in g:
        try:
            g.time_range = resolve(
                request.args.get("from"), request.args.get("to"), dataset().window(), default
            )
        except TimeRangeError as error:
            raise UiError(str(error)) from None
    return g.time_range


def instant(default: float) -> float:
    """The ``at`` parameter (an instant for tables such as pg_stat_activity), or ``default``."""
    raw = request.args.get("at", "").strip()
    if not raw:
        return default
    try:
        return resolve_instant(raw, dataset().window())
    except TimeRangeError as error:
        raise UiError(f"at: {error}") from None
