"""Which ground-truth evidence and decoys a candidate actually had on screen, from the recorded events.

An interview records every page view and API call (``observability_ui.candidate_session._record``): its path,
query arguments, status and, when the page had one, its time range.  The ground truth says where each
signal shows (``Evidence.seen``: views and query terms) and when (``Evidence.windows``); a recorded
event shows it when the three agree.  This is deliberately a recognition of what was *displayed*, not
of what was understood: the interviewer's console uses it for derived figures (time to the first
relevant signal, time spent on decoys) that a person then interprets.

Pure functions over the events; nothing here reads the dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol

from interview.scoring.locations import relative_path
from obsim.scenario import Decoy, Evidence, Scenario, Sighting, View, Window
from obsim.timerange import TimeRangeError, parse_instant

MAX_DWELL_S = 120.0
"""Longest wall time credited to one event: a candidate idle on a page is not studying it."""

_VIEWS: dict[str, View] = {
    "": "overview",
    "overview": "overview",
    "metrics": "metrics",
    "logs": "logs",
    "traces": "traces",
    "database": "database",
    "jobs": "jobs",
    "alerts": "alerts",
    "code": "code",
    "code-search": "code",
    "v1": "metrics",  # Prometheus's HTTP API, for promtool, Grafana or a script
}
# when or how, not what (``time``, ``start``, ``end``, ``timeout``: Prometheus's API)
_NOT_WHAT = {"from", "to", "at", "offset", "step", "limit", "mode", "sort", "time", "start", "end", "timeout"}


class RecordedEvent(Protocol):
    """What the interview store keeps per candidate action (``interview.store.Event``)."""

    kind: str
    wall_time: datetime
    sim_time: float | None
    detail: dict[str, Any]


def view_of(path: str) -> View | None:
    """The view a page or its ``/api`` twin belongs to (``/api/database/sessions`` -> database)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        parts = parts[1:] or [""]
    return _VIEWS.get(parts[0])


def shown_span(event: RecordedEvent, recording_end: float) -> tuple[float, float] | None:
    """The simulated time the event displayed: the instant of its ``at`` argument (a sessions or
    metrics table), else its time range; None when it had neither (the code view).

    A list opened without a query shows only the end of its range, not all of it: the sessions
    table is the snapshot at the range's end, and a trace search that asks for nothing lists the
    newest traces.  Crediting their whole range would count a tab clicked through as evidence seen.
    """
    detail = event.detail
    args = detail.get("args", {})
    at = str(args.get("at", "")).strip()
    if at:
        try:
            moment = parse_instant(at, recording_end)
        except TimeRangeError:
            return None
        return moment, moment
    shown = detail.get("range")
    if not shown:
        return None
    start, end = float(shown[0]), float(shown[1])
    return (end, end) if _newest_only(detail.get("path", ""), args) else (start, end)


def _newest_only(path: str, args: dict[str, Any]) -> bool:
    """Whether the request listed only what is newest at its range's end (see :func:`shown_span`)."""
    if path in {"/database", "/api/database/sessions"}:
        return True
    if path in {"/traces", "/api/traces"}:
        asked = {k for k, v in args.items() if str(v).strip() and k not in _NOT_WHAT}
        return not asked and args.get("sort", "recent") in {"", "recent"}
    return False


def _succeeded(event: RecordedEvent) -> bool:
    return event.kind in {"view", "api"} and 200 <= int(event.detail.get("status", 0)) < 300


def _asked(event: RecordedEvent) -> str:
    """The path and the query arguments that say *what* was asked (not when), lower-cased."""
    args = event.detail.get("args", {})
    return " ".join(
        [event.detail.get("path", ""), *(str(v) for k, v in args.items() if k not in _NOT_WHAT)]
    ).lower()


def _overlaps(span: tuple[float, float], windows: Sequence[Window]) -> bool:
    return any(span[0] <= w.end.timestamp() and w.start.timestamp() <= span[1] for w in windows)


def _sighted(
    seen: Sequence[Sighting], windows: Sequence[Window], event: RecordedEvent, recording_end: float
) -> bool:
    if not _succeeded(event):
        return False
    view = view_of(event.detail.get("path", ""))
    matching = [s for s in seen if s.view == view]
    if not matching:
        return False
    if windows and view != "code":  # code reads the same whatever the time: its windows say when it bites
        span = shown_span(event, recording_end)
        if span is None or not _overlaps(span, windows):
            return False
    asked = _asked(event)
    return any(not s.terms or any(term.lower() in asked for term in s.terms) for s in matching)


def _end(scenario: Scenario) -> float:
    return scenario.window.end.timestamp()


def shows_evidence(item: Evidence, event: RecordedEvent, recording_end: float) -> bool:
    """Whether ``event`` (a successful view or API call: the JSON API counts like the page it
    mirrors) had ``item``'s signal on screen: one of its views, a range or instant overlapping one of
    its windows (but for the code, which has no time), and one of the view's terms when it has any.
    ``recording_end`` resolves relative times such as ``at=now-5m``."""
    return _sighted(item.seen, item.windows, event, recording_end)


def touches_decoy(decoy: Decoy, event: RecordedEvent, recording_end: float) -> bool:
    """Whether ``event`` looked at ``decoy``: one of its sightings, or its code opened in the code view."""
    if _sighted(decoy.seen, decoy.windows, event, recording_end):
        return True
    path = event.detail.get("path", "")
    opened = (
        path.removeprefix("/code/") if path.startswith("/code/") else event.detail.get("args", {}).get("path")
    )
    if not opened or not _succeeded(event) or view_of(path) != "code":
        return False
    return relative_path(opened) in {relative_path(file) for file in decoy.files}


def evidence_seen(
    scenario: Scenario, events: Iterable[RecordedEvent]
) -> list[tuple[Evidence, RecordedEvent]]:
    """Each evidence item the candidate had on screen, with the first event that showed it, in the
    order they were first seen (so the first pair is the first relevant signal)."""
    truth = scenario.ground_truth
    if truth is None:
        return []
    first: dict[int, tuple[Evidence, RecordedEvent]] = {}
    for event in sorted(events, key=lambda e: e.wall_time):
        for index, item in enumerate(truth.evidence):
            if index not in first and shows_evidence(item, event, _end(scenario)):
                first[index] = (item, event)
    return list(first.values())


#: what the candidate does that ends their time on a page: another request, a note, a submission
_LEAVES_A_PAGE = frozenset({"view", "api", "notes", "submission"})


def time_on_decoys(scenario: Scenario, events: Iterable[RecordedEvent]) -> list[tuple[Decoy, float]]:
    """Wall seconds spent on each decoy: every request touching it counts until the candidate's next
    action (a request, a note, a submission: a decoy file read just before submitting counts), at
    most :data:`MAX_DWELL_S`; the last action counts nothing, since when it was left is unknown."""
    truth = scenario.ground_truth
    if truth is None:
        return []
    ordered = sorted((e for e in events if e.kind in _LEAVES_A_PAGE), key=lambda e: e.wall_time)
    spent = [0.0] * len(truth.decoys)
    for event, following in pairwise(ordered):
        dwell = min(MAX_DWELL_S, (following.wall_time - event.wall_time).total_seconds())
        for index, decoy in enumerate(truth.decoys):
            if touches_decoy(decoy, event, _end(scenario)):
                spent[index] += dwell
    return list(zip(truth.decoys, spent, strict=True))
