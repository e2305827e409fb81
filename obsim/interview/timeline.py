"""Reading a candidate's recorded events: which view each one was, whether it was a query, and a
one-line description for the interviewer's timeline and the scorecard.

The recorder (``observability_ui.interview``) stores requests as they came (path, query args,
status, size, simulated range); this module is the one place that interprets them, so the console,
the derived figures and the exports all tell the same story.
"""

from __future__ import annotations

from typing import Any, Protocol

#: query arguments that only place or page a view; any other argument is the candidate asking something
PLACEMENT_ARGS = frozenset({"from", "to", "step", "offset", "sort", "at", "line", "path", "mode"})


class RecordedEvent(Protocol):
    kind: str
    detail: dict[str, Any]


def is_request(event: RecordedEvent) -> bool:
    return event.kind in ("view", "api")


def is_query(event: RecordedEvent) -> bool:
    """A request that asked the data something: a PromQL/LogQL query, a search, a filter."""
    args = event.detail.get("args", {}) if is_request(event) else {}
    return any(value for name, value in args.items() if name not in PLACEMENT_ARGS)


def describe(event: RecordedEvent, hints: tuple[Any, ...] = ()) -> str:
    """One line for the timeline: what was asked and what came back."""
    detail = event.detail
    if is_request(event):
        args = " ".join(f"{name}={value}" for name, value in detail.get("args", {}).items())
        return (
            f"{detail.get('path', '?')} {args} → {detail.get('status')}, {detail.get('bytes', 0)} B".replace(
                "  ", " "
            )
        )
    if event.kind == "hint":
        index = detail.get("index", -1)
        text = hints[index].text if 0 <= index < len(hints) else ""
        return f"hint {index + 1} released: {text}".strip()
    if event.kind == "submission":
        return "findings submitted" + (" (late)" if detail.get("late") else "")
    if event.kind == "notes":
        text = str(detail.get("text", ""))
        return f"notes: {text[:200]}{'…' if len(text) > 200 else ''}"
    if event.kind == "join":
        return "opened the interview link"
    if event.kind == "clock" and "extended_by_s" in detail:
        return f"interviewer extended the time by {detail['extended_by_s'] / 60:g} min"
    if event.kind == "clock":
        return f"interviewer set the grace after the limit to {detail.get('grace_s', 0) / 60:g} min"
    if event.kind == "rubric":
        return f"interviewer scored the rubric: {detail.get('level')}"
    return ", ".join(f"{name}={value}" for name, value in detail.items())
