"""Reading a candidate's recorded events: which view each one was, whether it was a query, and the
timeline a person reads, for the interviewer's console and every scorecard export alike.

The recorder (``observability_ui.candidate_session``) stores requests as they came (path, query args,
status, size, simulated range); this module is the one place that interprets them, so the console,
the derived figures and the exports all tell the same story in the same order: oldest first, each
row placed in minutes since the interview clock started, a request told as the view and what it
showed in words (never a raw path or a byte count), the clock's start and the hints on it, and the
candidate's notes as one row per note rather than one per autosave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from interview import clock_time
from interview.scoring.evidence import shows_evidence, touches_decoy, view_of
from interview.store import as_utc
from obsim.scenario import Scenario

#: query arguments that only place or page a view; any other argument is the candidate asking something
PLACEMENT_ARGS = frozenset({"from", "to", "step", "offset", "sort", "at", "line", "path", "mode"})
#: how each view is named on the timeline (``view_of``'s names)
VIEW_NAMES = {
    "overview": "Overview",
    "metrics": "Metrics",
    "logs": "Logs",
    "traces": "Traces",
    "database": "Database",
    "jobs": "Jobs",
    "alerts": "Alerts",
    "code": "Code",
}
#: what a request's question arguments read as, in the order they are told
ASKED = {
    "query": "query",
    "metric": "metric",
    "service": "service",
    "level": "level",
    "contains": "containing",
    "trace_id": "trace",
    "operation": "operation",
    "tags": "tags",
    "min_duration": "slower than",
    "max_duration": "faster than",
    "errors": "errors",
    "limit": "at most",
    "state": "state",
    "application": "application",
    "min_age": "older than",
    "by": "by",
    "job": "job",
    "outcome": "outcome",
    "q": "searched for",
    "deploys": "deploys",
}
#: requests that are neither a view nor a question of the data: what the platform itself offers
OTHER_PAGES = {
    "/submit": "Opened the submission form",
    "/api/dataset": "Read the dataset's description (API)",
    "/api/openapi.json": "Read the API's description",
}
#: a note longer than this is cut on its row (the scorecard's submission and the notes keep it whole)
NOTE_CHARS = 300

Mark = Literal["relevant", "decoy"]
_NEVER = datetime.max.replace(tzinfo=UTC)


class RecordedEvent(Protocol):
    kind: str
    wall_time: datetime
    sim_time: float | None
    detail: dict[str, Any]


#: what the candidate did (the rest, clock changes, hints and rubric saves, is the interviewer's)
CANDIDATE_KINDS = frozenset({"join", "view", "api", "notes", "submission"})


def is_request(event: RecordedEvent) -> bool:
    return event.kind in ("view", "api")


def is_query(event: RecordedEvent) -> bool:
    """A request that asked the data something: a PromQL/LogQL query, a search, a filter."""
    args = event.detail.get("args", {}) if is_request(event) else {}
    return any(value for name, value in args.items() if name not in PLACEMENT_ARGS)


def _hhmm(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def _when(detail: dict[str, Any]) -> str:
    """The simulated time a request showed: its instant (``at``) or its range, in UTC."""
    at = str(detail.get("args", {}).get("at", "")).strip()
    if at:
        try:
            return f"at {datetime.fromisoformat(at.replace('Z', '+00:00')).astimezone(UTC):%H:%M} UTC"
        except ValueError:  # a relative instant ("now-5m"): as typed
            return f"at {at}"
    shown = detail.get("range")
    return f"{_hhmm(shown[0])}–{_hhmm(shown[1])} UTC" if shown else ""


def _what(path: str, args: dict[str, Any]) -> str:
    """What a request asked, in words: the file or trace it opened, its query and filters."""
    parts = []
    stripped = path.removeprefix("/api")
    if stripped == "/code/releases":
        parts.append("the release history")
    elif stripped.startswith("/code/file"):
        parts.append(f"opened {args.get('path', '?')}")
    elif stripped.startswith("/code/") and len(stripped) > len("/code/"):
        parts.append(f"opened {stripped.removeprefix('/code/')}")
    elif stripped in ("/code", "/code/"):
        parts.append("the file list")
    elif stripped.startswith("/traces/"):
        parts.append(f"opened trace {stripped.removeprefix('/traces/')}")
    elif stripped.endswith("/names"):
        parts.append("the metric names")
    elif stripped.endswith("/labels"):
        parts.append("the labels")
    elif stripped.endswith("/volume"):
        parts.append("volume")
    elif stripped.endswith("/history"):
        parts.append("history")
    elif stripped.endswith("/runs"):
        parts.append("runs")
    elif stripped.endswith("/per_minute"):
        parts.append("runs per minute")
    for name, label in ASKED.items():
        value = str(args.get(name, "")).strip()
        if value:
            parts.append(f"{label} “{value}”")
    return ", ".join(parts)


def describe_request(detail: dict[str, Any]) -> str:
    """A request as a person reads it: the view, what it asked and the simulated time it showed;
    a refused or failed one says so.  ``/api/...`` calls read as their view's, marked (API)."""
    path = str(detail.get("path", "?"))
    if path in OTHER_PAGES:
        text = OTHER_PAGES[path]
    else:
        view = view_of(path)
        name = VIEW_NAMES.get(view or "", f"Page {path}")
        asked = _what(path, detail.get("args", {}))
        when = _when(detail)
        text = name + (" (API)" if path.startswith("/api/") else "")
        text += f": {asked}" if asked else ""
        text += f", {when}" if when else ""
    status = int(detail.get("status", 200) or 200)
    told = f": {_cut(str(detail['error']))}" if detail.get("error") else ""
    if 400 <= status < 500:
        text += f" — refused ({status}{told})"
    elif status >= 500:
        text += f" — failed ({status}{told})"
    return text


def describe(event: RecordedEvent, hints: Sequence[Any] = ()) -> str:
    """One line for one event, in words (the candidate's evidence choices use it too)."""
    detail = event.detail
    if is_request(event):
        return describe_request(detail)
    if event.kind == "hint":
        index = detail.get("index", -1)
        text = hints[index].text if 0 <= index < len(hints) else ""
        return f"Hint {index + 1} released: {text}".strip()
    if event.kind == "hint_withdrawn":
        return f"Hint {detail.get('index', -1) + 1} withdrawn before the candidate saw it"
    if event.kind == "submission":
        return "Submitted findings" + (" (late)" if detail.get("late") else "")
    if event.kind == "notes":
        return f"Notes: {_cut(str(detail.get('text', '')))}"
    if event.kind == "join":
        return "Opened the interview link"
    if event.kind == "clock":
        return _clock_change(detail)
    if event.kind == "rubric":
        return f"Interviewer saved the rubric: {detail.get('level')}"
    return ", ".join(f"{name}={value}" for name, value in detail.items())


def _clock_change(detail: dict[str, Any]) -> str:
    if "extended_by_s" in detail:
        return f"Interviewer extended the time by {detail['extended_by_s'] / 60:g} min"
    if "grace_s" in detail:
        return f"Interviewer set the grace after the limit to {detail['grace_s'] / 60:g} min"
    return {
        "paused": "Interviewer paused the clock",
        "resumed": "Interviewer resumed the clock",
        "ended": "Interviewer ended the interview",
        "reopened": "Interviewer reopened the interview",
    }.get(str(detail.get("change")), "Interviewer changed the clock")


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text[:NOTE_CHARS] + ("…" if len(text) > NOTE_CHARS else "")


@dataclass(frozen=True)
class Row:
    """One line of the timeline: when (minutes since the clock started, None before it; wall and
    simulated UTC), what kind, what happened in words, and whether a request showed the scenario's
    evidence (``relevant``) or one of its decoys (``decoy``)."""

    since_start_s: float | None
    wall_time: datetime
    sim_time: float | None
    kind: str
    description: str
    mark: Mark | None = None

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["wall_time"] = self.wall_time.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        row["sim_time"] = (
            datetime.fromtimestamp(self.sim_time, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            if self.sim_time
            else None
        )
        return row


class _Session(Protocol):
    started_at: datetime | None


def rows(scenario: Scenario | None, interview: _Session, events: Sequence[RecordedEvent]) -> list[Row]:
    """The session's timeline, oldest first: every event in words, the clock's start as a row of
    its own, and consecutive autosaves of the notes as one row (the note as it stood at the last,
    telling only what it added when the candidate kept typing).  ``scenario`` (None when this
    checkout lacks it) names the hints and marks requests that showed evidence or a decoy."""
    started = as_utc(interview.started_at) if interview.started_at is not None else None
    paused = clock_time.pauses(events)
    hints = scenario.hints if scenario is not None else ()
    withdrawn = _withdrawn_for_good(events)
    out: list[Row] = []
    start_row = (
        Row(0.0, started, None, "start", "Interviewer started the clock") if started is not None else None
    )
    saved_note = ""  # the notes as last saved
    note_before = ""  # the notes before the current run of autosaves
    for event in sorted(events, key=lambda e: as_utc(e.wall_time)):
        moment = as_utc(event.wall_time)
        if start_row is not None and moment >= start_row.wall_time:
            out.append(start_row)
            start_row = None
        since = (
            clock_time.on_clock(started, paused, moment)
            if started is not None and moment >= started
            else None
        )
        description = describe(event, hints)
        stop = next((p for p in paused if p.start < moment < (p.end or _NEVER)), None)
        if event.kind == "clock" and event.detail.get("change") in ("resumed", "reopened"):
            length = next((p.end - p.start for p in paused if p.end == moment), None)
            if length is not None:
                stood = clock_time.minutes(length.total_seconds())
                description += (
                    f" after a pause of {stood} (not counted above)"
                    if event.detail["change"] == "resumed"
                    else f" after standing ended for {stood} (not counted above)"
                )
        elif stop is not None:
            description += " (after the interview ended)" if stop.ended else " (while the clock was paused)"
        if event.kind == "hint" and event.detail.get("index") in withdrawn:  # its text stays unsaid
            description = f"Hint {event.detail['index'] + 1} released, then withdrawn (below)"
        if event.kind == "notes":
            if out and out[-1].kind == "notes":  # the same note, saved again as it was typed
                out.pop()
            else:
                note_before = saved_note
            saved_note = str(event.detail.get("text", ""))
            description = _note(note_before, saved_note)
        out.append(Row(since, moment, event.sim_time, event.kind, description, _mark(scenario, event)))
    if start_row is not None:
        out.append(start_row)
    return out


def _withdrawn_for_good(events: Sequence[RecordedEvent]) -> set[int]:
    """Hints whose last release was withdrawn: the candidate never saw them, so neither does anyone
    watching the interviewer's screen (a safe-to-share page shows no unreleased hint's text)."""
    released: dict[int, bool] = {}
    for event in events:
        if event.kind in ("hint", "hint_withdrawn"):
            released[event.detail.get("index", -1)] = event.kind == "hint"
    return {index for index, standing in released.items() if not standing}


def _note(before: str, after: str) -> str:
    """A note in words: what the candidate added to their notes, or the notes as they now read."""
    if not after.strip():
        return "Cleared their notes"
    if before.strip() and after.startswith(before):
        return f"Notes, added: {_cut(after[len(before) :])}"
    return f"Notes: {_cut(after)}"


def _mark(scenario: Scenario | None, event: RecordedEvent) -> Mark | None:
    truth = scenario.ground_truth if scenario is not None else None
    if truth is None or not is_request(event):
        return None
    end = scenario.window.end.timestamp()
    if any(shows_evidence(item, event, end) for item in truth.evidence):
        return "relevant"
    if any(touches_decoy(decoy, event, end) for decoy in truth.decoys):
        return "decoy"
    return None
