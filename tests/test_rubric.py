"""The interviewer's rubric: rated dimensions, the scenario's checklist and the level it supports."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from interview.scoring.rubric import DIMENSIONS, RubricScore, checklist, suggested_level, suggestion_reason
from obsim import scenario as scenarios

LEAK = scenarios.load("connection-leak")


def ratings(value: int) -> dict[str, int]:
    return dict.fromkeys(DIMENSIONS, value)


def test_weights_follow_the_guide_and_sum_to_100():
    assert {name: weight for name, (weight, _) in DIMENSIONS.items()} == {
        "systematic_approach": 30,
        "tool_use": 25,
        "correlating_data": 25,
        "root_cause": 15,
        "fix": 5,
    }
    assert sum(weight for weight, _ in DIMENSIONS.values()) == 100


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"ratings": {**ratings(1), "charm": 2}, "level": "pass"}, "unknown dimension"),
        ({"ratings": {"fix": 1}, "level": "pass"}, "missing"),
        ({"ratings": {**ratings(1), "fix": 4}, "level": "pass"}, "0, 1, 2 or 3"),
        ({"ratings": ratings(1), "level": "genius"}, "level"),
    ],
)
def test_a_malformed_rubric_is_refused_with_the_reason(bad, message):
    with pytest.raises(ValidationError, match=message):
        RubricScore.model_validate(bad)


def test_the_checklist_suggests_a_level_by_the_ladder():
    items = checklist(LEAK)
    by_level = {
        level: [s for s, lv in items.items() if lv == level] for level in ("pass", "strong", "exceptional")
    }
    assert all(by_level.values())
    yes = dict.fromkeys(items, True)
    assert suggested_level(LEAK, yes) == "exceptional"
    assert suggested_level(LEAK, {}) == "no pass"
    one_pass_missing = {**yes, by_level["pass"][0]: False}
    assert suggested_level(LEAK, one_pass_missing) == "no pass"
    only_pass = dict.fromkeys(by_level["pass"], True)
    assert suggested_level(LEAK, only_pass) == "pass"
    strong_but_few_exceptional = {**only_pass, **dict.fromkeys(by_level["strong"], True)}
    assert suggested_level(LEAK, strong_but_few_exceptional) == "strong"


def test_the_suggested_level_is_explained_in_words():
    """The review: "the checklist suggests strong" beside a chosen "meets the bar" was unexplained.
    The reason counts each level's ticks against what the ladder needs and says it only guides."""
    items = checklist(LEAK)
    by_level = {level: [s for s, lv in items.items() if lv == level] for level in ("pass", "strong")}
    passes, strong = len(by_level["pass"]), len(by_level["strong"])
    only_pass = dict.fromkeys(by_level["pass"], True)
    reason = suggestion_reason(LEAK, only_pass)
    assert reason.startswith("The checklist suggests meets the bar:")
    assert f"{passes} of {passes} pass statements ticked (all needed)" in reason
    assert f"0 of {strong} strong statements ticked ({-(-2 * strong // 3)} needed)" in reason
    assert "the level chosen from the ratings and the whole interview is what counts" in reason
    one_short = {**only_pass, by_level["pass"][0]: False}
    assert suggestion_reason(LEAK, one_short).startswith("The checklist suggests does not meet the bar:")
    assert f"{passes - 1} of {passes} pass statements ticked" in suggestion_reason(LEAK, one_short)
