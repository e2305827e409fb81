"""A session's scorecard: what the hiring team reads after the interview, and compares across
candidates.

It keeps the two scores apart on purpose: the *automatic* part (computed from the submission
against the ground truth, by ``interview.scoring.automatic``) and the *interviewer's* rubric (scored by
a person).  Nothing blends them into one figure that would hide which part a machine decided.
It also carries what makes a score reproducible and auditable: scenario version, seed and the code
hash of the dataset the candidate actually saw, and the whole investigation timeline.

One JSON document (``build``) is the source; Markdown and printable HTML are renderings of it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from interview import timeline
from interview.clock_time import minutes
from interview.investigation_figures import hint_releases, investigation_figures
from interview.scoring.rubric import (
    DIMENSIONS,
    LEVEL_NAMES,
    RATINGS,
    RubricScore,
    checklist,
    suggested_level,
    suggestion_reason,
)
from interview.store import InterviewStore, as_utc
from obsim.scenario import Scenario

FORMAT = "obsim-scorecard/2"  # 2: the rubric as ratings and a level (no total); the timeline in words
FORMATS = {"json": "application/json", "md": "text/markdown", "html": "text/html"}
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


_ENTITY = re.compile(r"&(?=#?\w+;)")


def inline(text: object) -> str:
    """Free text (a candidate's, a scenario's) as one Markdown line: a newline would end a list item
    or let a line that starts with ``-`` or ``1.`` open a list of its own, and raw HTML would render
    in a viewer, so line breaks become ``<br>``, ``<`` and an ``&`` that starts an entity are escaped.
    ``>`` is left as typed ("pool -> 503" reads as written): with no ``<`` it opens no tag, and a
    leading one is backslash-escaped so it quotes nothing.  ``](`` is escaped too: a candidate's
    ``![x](https://...)`` would otherwise load an image from anywhere when the scorecard is viewed."""
    escaped = _ENTITY.sub("&amp;", str(text)).replace("<", "&lt;").replace("](", "]\\(")
    joined = "<br>".join(line.strip() for line in escaped.strip().splitlines())
    return "\\" + joined if joined.startswith((">", "[")) else joined


def cell(text: object) -> str:
    """Free text in a Markdown table cell: one line, and a ``|`` escaped so it does not split the cell."""
    return inline(text).replace("|", "\\|")


def code(text: object) -> str:
    """Free text in a Markdown code span: one line (a code span shows ``&lt;`` as typed, so nothing is
    escaped; raw HTML never renders inside one)."""
    return " ".join(line.strip() for line in str(text).strip().splitlines())


_TEMPLATES.filters.update(inline=inline, cell=cell, code=code)


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z") if moment is not None else None


def build(store: InterviewStore, scenario: Scenario | None, session_id: str) -> dict[str, Any]:
    """The scorecard of one session, on its own ``scenario``, as a JSON-ready document (KeyError
    for an unknown session).  Without the scenario (one this checkout does not have) the record,
    submission and both scores stay readable; what only the scenario knows is left out: figures,
    hint texts, the checklist's levels."""
    interview = store.get(session_id)
    if interview is None:
        raise KeyError(session_id)
    events = store.events(session_id)
    submissions = store.submissions(session_id)
    latest = submissions[-1] if submissions else None
    joined = next((e for e in events if e.kind == "join"), None)
    releases = hint_releases(scenario, interview, events)
    return {
        "format": FORMAT,
        "generated_at": _iso(datetime.now(UTC)),
        "session": interview.id,
        "candidate": interview.candidate,
        "scenario": {
            "id": interview.scenario_id,
            "title": scenario.title if scenario else None,
            "version": scenario.version if scenario else None,
            "difficulty": scenario.difficulty if scenario else None,
            "time_limit_minutes": scenario.time_limit_minutes if scenario else None,
        },
        "seed": interview.seed,
        "dataset": joined.detail.get("dataset") if joined is not None else None,
        "clock": {
            "created_at": _iso(interview.created_at),
            "started_at": _iso(interview.started_at),
            "ended_at": _iso(interview.ended_at),  # None while the interviewer has not ended it
            "elapsed_s": round(interview.elapsed_s(), 1),
            "time_limit_s": interview.time_limit_s,
            "extended_s": interview.extended_s,  # time the interviewer added to the limit
            "grace_s": interview.grace_s,
        },
        "figures": investigation_figures(scenario, interview, events) if scenario else None,
        "automatic": _automatic(latest, len(submissions)),
        "interviewer": _interviewer(store, scenario, session_id),
        "submission": latest.body if latest is not None else None,
        "hints": [_hint(scenario, index, release) for index, release in sorted(releases.items())],
        # the console's rows, in its order: oldest first, in words, minutes since the clock started
        "timeline": [row.to_json() for row in timeline.rows(scenario, interview, events)],
    }


def _hint(scenario: Scenario | None, index: int, release: dict[str, Any]) -> dict[str, Any]:
    """A released hint with when it went out on the interview clock and what is unusual about it
    (without the scenario, not its text nor its suggested minute)."""
    suggested = scenario.hints[index].after_minutes if scenario is not None else None
    early = f"before its suggested {suggested:g} min" if suggested is not None else "before the clock started"
    flags = [
        f"released at {minutes(release['clock_s'])}, {early}" if release["early"] else None,
        "released before an earlier hint" if release["out_of_order"] else None,
        "released after the submission" if release["after_submission"] else None,
    ]
    return {
        "index": index,
        "text": scenario.hints[index].text if scenario is not None else None,
        "released_at": _iso(release["released_at"]),
        "clock_s": release["clock_s"],
        "suggested_after_minutes": suggested,
        "flags": [flag for flag in flags if flag],
    }


def _automatic(latest: Any, count: int) -> dict[str, Any] | None:
    if latest is None:
        return None
    return {
        "source": "automatic: computed by obsim from the latest submission against the ground truth",
        "submitted_at": _iso(latest.submitted_at),
        "late": latest.late,
        "submissions": count,
        **latest.automatic_score,
    }


def _interviewer(store: InterviewStore, scenario: Scenario | None, session_id: str) -> dict[str, Any] | None:
    stored = store.rubric(session_id)
    if stored is None:
        return None
    rubric = RubricScore.model_validate(stored.body)
    levels = checklist(scenario) if scenario else dict.fromkeys(rubric.checklist)
    suggested = suggested_level(scenario, rubric.checklist) if scenario else None
    return {
        "source": "interviewer: rubric scored by a person (ratings and a level, never added to a number)",
        "scored_at": _iso(stored.scored_at),
        "level": rubric.level,
        "level_name": LEVEL_NAMES[rubric.level],
        "suggested_level": suggested,
        "suggested_level_name": LEVEL_NAMES[suggested] if suggested else None,
        "suggestion_reason": suggestion_reason(scenario, rubric.checklist) if scenario else None,
        "ratings": [
            {
                "dimension": name,
                "question": question,
                "weight": weight,
                "rating": rubric.ratings[name],
                "label": RATINGS[rubric.ratings[name]],
            }
            for name, (weight, question) in DIMENSIONS.items()
        ],
        "checklist": [
            {"statement": statement, "level": level, "yes": rubric.checklist.get(statement, False)}
            for statement, level in levels.items()
        ],
        "notes": rubric.notes,
    }


def render(card: dict[str, Any], fmt: str) -> str:
    """The scorecard as ``json``, ``md`` (Markdown) or ``html`` (a printable page)."""
    if fmt == "json":
        import json

        return json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown scorecard format {fmt!r}: use one of {', '.join(FORMATS)}")
    return _TEMPLATES.get_template(f"scorecard.{fmt}").render(
        card=card, minutes=minutes, part_name=part_name, since_start=since_start
    )


def comparison(store: InterviewStore, scenario: Scenario) -> list[dict[str, Any]]:
    """The sessions of this scenario side by side, both scores with the derived figures: one group
    per dataset their candidates saw (scenario version, seed and code), since candidates who looked
    at different data are not comparable; sessions never joined form a group of their own."""
    groups: dict[str | None, dict[str, Any]] = {}
    for interview in store.sessions():
        if interview.scenario_id != scenario.id:
            continue
        card = build(store, scenario, interview.id)
        automatic, rubric = card["automatic"], card["interviewer"]
        seen = card["dataset"] or {}
        key = seen.get("cache_key") or seen.get("code_hash")
        group = groups.setdefault(key, {"dataset": card["dataset"], "rows": []})
        group["rows"].append(
            {
                "session": interview.id,
                "candidate": interview.candidate,
                "automatic_total": automatic["total"] if automatic else None,
                "late": automatic["late"] if automatic else None,
                "level": rubric["level"] if rubric else None,
                "level_name": rubric["level_name"] if rubric else None,
                **card["figures"],
            }
        )
    return list(groups.values())


def dataset_label(seen: dict[str, Any] | None, *, name_scenario: bool = True) -> str:
    """Which data a comparison group's candidates investigated, in words (without the scenario's id
    when ``name_scenario`` is false: on a screen shared with others, an id may name the answer)."""
    if seen is None:
        return "not joined yet (no dataset seen)"
    scenario = f"{seen.get('scenario')} " if name_scenario else ""
    return f"dataset: {scenario}v{seen.get('scenario_version')}, seed {seen.get('seed')}, code {seen.get('code_hash')}"


#: how the automatic score's parts read on a page
PART_NAMES = {
    "location": "code location",
    "mechanism": "mechanism",
    "timing": "timing",
    "causal_chain": "causal chain",
    "evidence": "evidence cited",
    "fix": "lasting fix",
    "mitigation": "mitigation",
}


def part_name(name: str) -> str:
    return PART_NAMES.get(name, name.replace("_", " "))


def since_start(seconds: float | None) -> str:
    """A timeline row's place on the interview: ``m:ss`` since the clock started, or before it."""
    return "before start" if seconds is None else minutes(seconds)
