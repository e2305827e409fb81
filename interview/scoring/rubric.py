"""The interviewer's part of the score: a rating per dimension, a yes/no checklist and a level.

The automatic score judges the answer; the rubric judges the investigation and the reasoning,
which only a person watching can.  It is read as ratings and a level, never as a number out of
100: a second figure beside the automatic score would invite adding the two, and a hiring manager
reads "strong" faster than "71.7".  Its dimensions follow the public production-debugging
interview guide the scenarios are modelled on, with the weight it gives each (systematic
approach 30, tool use 25, correlating data 25, root cause 15, fix 5) shown as guidance for the
level; each is rated on the guide's ladder (not shown, meets the bar, strong, exceptional), so a
dimension's rating reads the same as the level it supports.  The checklist is the scenario's own
rubric (pass / strong / exceptional statements), answered yes or no, which keeps free text from
being scored on impression.  The level the checklist supports is suggested; the interviewer's
chosen level is what counts, and the scorecard shows both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from obsim.scenario import Scenario

LEVELS = ("no pass", "pass", "strong", "exceptional")
Level = Literal["no pass", "pass", "strong", "exceptional"]
#: how a level reads (the stored value stays the scenario rubric's own word)
LEVEL_NAMES: dict[str, str] = {
    "no pass": "does not meet the bar",
    "pass": "meets the bar",
    "strong": "strong",
    "exceptional": "exceptional",
}
RATINGS = {0: "not shown", 1: "meets the bar", 2: "strong", 3: "exceptional"}

#: name -> (the guide's weight in %, guidance for the level; the question the interviewer answers)
DIMENSIONS: dict[str, tuple[int, str]] = {
    "systematic_approach": (30, "Forms hypotheses and tests them, narrowing from symptoms to cause"),
    "tool_use": (25, "Uses metrics, logs, traces, database and jobs views fluently, each for what it shows"),
    "correlating_data": (25, "Lines up signals across views and time to find what changed first"),
    "root_cause": (15, "Names the mechanism and the code responsible, not a symptom"),
    "fix": (5, "Separates mitigation from a lasting fix and explains why the fix works"),
}
#: share of a level's checklist statements that must be answered yes for the level above pass
MAJORITY = 2 / 3


class RubricScore(BaseModel):
    """What the interviewer records: a rating per dimension on the level ladder (0 not shown to 3
    exceptional), the checklist, a level, notes."""

    model_config = ConfigDict(extra="forbid")

    ratings: dict[str, int] = Field(description="dimension -> 0..3")
    checklist: dict[str, bool] = Field(default_factory=dict, description="statement -> yes/no")
    level: Level
    notes: str = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _known_dimensions(self) -> RubricScore:
        unknown = set(self.ratings) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown dimension(s): {', '.join(sorted(unknown))}")
        missing = set(DIMENSIONS) - set(self.ratings)
        if missing:
            raise ValueError(f"rate every dimension; missing: {', '.join(sorted(missing))}")
        for name, rating in self.ratings.items():
            if rating not in RATINGS:
                raise ValueError(f"{name}: a rating is 0, 1, 2 or 3, not {rating}")
        return self


def checklist(scenario: Scenario) -> dict[str, str]:
    """The scenario's rubric statements, each with the level it belongs to, in ladder order."""
    rubric = scenario.rubric
    levels = (("pass", rubric.pass_), ("strong", rubric.strong), ("exceptional", rubric.exceptional))
    return {statement: level for level, statements in levels for statement in statements}


def _ticks(scenario: Scenario, answers: dict[str, bool]) -> dict[str, list[bool]]:
    """Each checklist level's answers, in ladder order (an unanswered statement is a no)."""
    by_level: dict[str, list[bool]] = {}
    for statement, level in checklist(scenario).items():
        by_level.setdefault(level, []).append(answers.get(statement, False))
    return by_level


def suggested_level(scenario: Scenario, answers: dict[str, bool]) -> Level:
    """The level the checklist supports: every pass statement, then most of each level above."""
    by_level = _ticks(scenario, answers)
    if not all(by_level["pass"]):
        return "no pass"
    reached: Level = "pass"
    for level in ("strong", "exceptional"):
        yes = by_level[level]
        if sum(yes) < MAJORITY * len(yes):
            break
        reached = level  # type: ignore[assignment]
    return reached


def suggestion_reason(scenario: Scenario, answers: dict[str, bool]) -> str:
    """Why the checklist suggests its level, in words for the console and the scorecard: how many
    statements of each level were ticked against what the ladder asks, and that the suggestion only
    guides the level the interviewer chooses (a bare "suggests strong" beside "meets the bar" reads
    as a contradiction)."""
    by_level = _ticks(scenario, answers)
    counts = "; ".join(
        f"{sum(yes)} of {len(yes)} {level} statements ticked"
        + (" (all needed)" if level == "pass" else f" ({_needed(len(yes))} needed)")
        for level, yes in by_level.items()
    )
    level = LEVEL_NAMES[suggested_level(scenario, answers)]
    return (
        f"The checklist suggests {level}: {counts}. A suggestion from the ticks only; the level chosen"
        " from the ratings and the whole interview is what counts."
    )


def _needed(statements: int) -> int:
    """The fewest ticks that make a majority (:data:`MAJORITY`) of ``statements``."""
    return next(n for n in range(statements + 1) if n >= MAJORITY * statements)
