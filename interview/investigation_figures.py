"""Figures derived from a candidate's recorded investigation, for the console and the scorecard.

They describe *how* the candidate worked, which neither score captures on its own: how soon they
went to a relevant signal (judged against the ground truth's evidence list; the overview the
platform opens on is on every candidate's screen, so it does not count, :func:`sought`), how long they
spent on the scenario's decoys, how many questions they asked of the data, which views they used,
how many hints they needed and when they submitted.  Times are seconds since the interview clock
started; nothing the candidate did before the start counts (the platform refuses their requests
until then, but a database from an earlier obsim may hold some), so no figure is ever negative and
a session never started has no times at all.  A hint counts whenever it was released.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interview.clock_time import Pause, on_clock, pauses
from interview.scoring.evidence import evidence_seen, time_on_decoys, view_of
from interview.store import Event, InterviewSession, as_utc
from interview.timeline import is_query, is_request
from obsim.scenario import Scenario


def investigation_figures(
    scenario: Scenario, interview: InterviewSession, events: list[Event]
) -> dict[str, Any]:
    origin = interview.started_at
    paused = pauses(events)
    counted = [e for e in events if origin is not None and as_utc(e.wall_time) >= as_utc(origin)]
    requests = [e for e in counted if is_request(e)]
    seen = evidence_seen(scenario, sought(requests))
    first = min(seen, key=lambda pair: pair[1].wall_time, default=None)
    submissions = [e for e in counted if e.kind == "submission"]
    return {
        "time_to_first_relevant_signal_s": _since(origin, paused, first[1].wall_time) if first else None,
        "first_relevant_signal": first[0].signal if first else None,
        "evidence_seen": len(seen),
        "evidence_total": len(scenario.ground_truth.evidence) if scenario.ground_truth else 0,
        "time_on_decoys_s": round(sum(spent for _, spent in time_on_decoys(scenario, counted)), 1),
        "queries": sum(1 for e in requests if is_query(e)),
        "requests": len(requests),
        "views_used": sorted({view for e in requests if (view := view_of(e.detail.get("path", "")))}),
        "hints_used": len(hint_releases(scenario, interview, events)),  # a hint given early still helped
        "time_to_submission_s": _since(origin, paused, submissions[0].wall_time) if submissions else None,
    }


def sought(requests: list[Event]) -> list[Event]:
    """The requests the candidate chose to make: all but the page the platform opened on (their
    first request, when it is the overview as served, without arguments).  Every candidate has that
    page on screen, so the signals its panels show say nothing of how they investigated; the figures
    count a signal from the moment the candidate went to it (the automatic score's evidence part,
    which asks only whether a cited view's signal was on screen, still counts the landing page)."""
    ordered = sorted(requests, key=lambda event: as_utc(event.wall_time))
    first = ordered[0] if ordered else None
    landing = (
        first is not None
        and view_of(first.detail.get("path", "")) == "overview"
        and not first.detail.get("args")
    )
    return ordered[1:] if landing else ordered


def _since(origin: datetime | None, paused: list[Pause], moment: datetime) -> float | None:
    """Seconds on the interview clock (pauses excluded) at ``moment``; None before any start."""
    return round(on_clock(origin, paused, moment), 1) if origin is not None else None


def hint_releases(
    scenario: Scenario | None, interview: InterviewSession, events: list[Event]
) -> dict[int, dict[str, Any]]:
    """When each released hint went out and whether it came too soon, by hint index.

    A hint changes what a score means, so the hiring team must see one that was given before the
    scenario suggests it (``early``: before its ``after_minutes`` on the interview clock, or before a
    hint above it in the ladder, ``out_of_order``) or once the candidate had already submitted
    (``after_submission``: it cannot have helped that submission, but it may have shaped a later one).
    The clock time is the one recorded at the release (pauses excluded); an event from an older obsim
    without it falls back to the clock's reading at that wall time.  Without the scenario (a session
    of one this checkout lacks) every recorded release is kept, ``early`` only when before the start.
    A release the interviewer undid (``hint_withdrawn``, before the candidate saw it) is not one.
    """
    count = len(scenario.hints) if scenario is not None else None
    first_submission = next((e.wall_time for e in events if e.kind == "submission"), None)
    releases: dict[int, dict[str, Any]] = {}
    for event in events:
        index = event.detail.get("index", -1)
        if event.kind == "hint_withdrawn":  # undone before the candidate saw it: as if never given
            releases.pop(index, None)
            continue
        in_ladder = index >= 0 and (count is None or index < count)
        if event.kind != "hint" or not in_ladder or index in releases:
            continue
        clock_s = event.detail.get("clock_s")
        if clock_s is None:
            clock_s = round(interview.elapsed_s(as_utc(event.wall_time)), 1)
        releases[index] = {
            "released_at": event.wall_time,
            "clock_s": clock_s,
            "early": interview.started_at is None
            or (scenario is not None and clock_s < scenario.hints[index].after_minutes * 60),
            "out_of_order": any(earlier not in releases for earlier in range(index)),
            "after_submission": first_submission is not None
            and as_utc(event.wall_time) >= as_utc(first_submission),
        }
    return releases
