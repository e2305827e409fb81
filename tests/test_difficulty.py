"""Difficulty is measured: each scenario's label follows from its shortest path, which its own
evidence, decoys and code back (issue 18)."""

import re
import shutil
from pathlib import Path

import pytest

from obsim import difficulty
from obsim import scenario as scenarios
from obsim.scenario import ScenarioError

REPO = scenarios.SCENARIOS_DIR.parent
HARD = {
    "landing_pinpoints": False,
    "signal_views": ["overview", "traces", "logs"],
    "code_files": 2,
    "aligned_decoys": 1,
}


def test_every_label_is_the_one_its_shortest_path_derives():
    """Loading already refuses a label or a path its scenario does not back (the cases below); this
    adds what the schema cannot see: the files exist, and the path reads every root cause's file."""
    for s in scenarios.load_all():
        path = s.shortest_path
        assert s.difficulty == path.difficulty, f"{s.id}: {path.hard_shortfalls}"
        for file in path.code:
            assert (REPO / "app_under_test" / file).is_file(), f"{s.id}: {file} is not in the checkout"
        if s.faulty:
            assert s.ground_truth is not None and path.signals, f"{s.id}: a fault needs signals"
            unread = {cause.file for cause in s.ground_truth.root_causes} - set(path.code)
            assert not unread, f"{s.id}: the path never reads {sorted(unread)}"


def test_the_rule_needs_every_condition_for_hard():
    assert difficulty.derive(**HARD) == "hard"
    assert difficulty.hard_shortfalls(**HARD) == []
    for weaker, reason in [
        ({"landing_pinpoints": True}, "landing dashboard"),
        ({"signal_views": ["overview", "traces"]}, "2 signal(s)"),
        ({"signal_views": ["metrics", "metrics", "metrics"]}, "1 view(s)"),
        ({"code_files": 1}, "1 file(s)"),
        ({"aligned_decoys": 0}, "no decoy"),
    ]:
        facts = {**HARD, **weaker}
        assert difficulty.derive(**facts) == "medium"
        assert [reason in why for why in difficulty.hard_shortfalls(**facts)] == [True]


def test_easy_is_a_landing_dashboard_that_pinpoints_and_at_most_one_file():
    assert (
        difficulty.derive(landing_pinpoints=True, signal_views=["overview"], code_files=1, aligned_decoys=0)
        == "easy"
    )
    assert (
        difficulty.derive(landing_pinpoints=True, signal_views=[], code_files=0, aligned_decoys=0) == "easy"
    )
    assert (
        difficulty.derive(landing_pinpoints=True, signal_views=[], code_files=2, aligned_decoys=0) == "medium"
    )
    assert (
        difficulty.derive(landing_pinpoints=False, signal_views=[], code_files=0, aligned_decoys=0)
        == "medium"
    )


def _copy(tmp_path: Path, scenario_id: str) -> Path:
    target = tmp_path / scenario_id
    shutil.copytree(scenarios.SCENARIOS_DIR / scenario_id, target)
    return target / scenarios.SCENARIO_FILE


@pytest.mark.parametrize(
    ("scenario_id", "old", "new", "expected"),
    [
        (
            "cron-storm",
            'difficulty = "medium"',
            'difficulty = "hard"',
            "derives 'medium' (the landing dashboard",
        ),
        (
            "cron-storm",
            "{ evidence = 5, view",
            "{ evidence = 9, view",
            "signals.3: there is no evidence item 9",
        ),
        (
            "cron-storm",
            '{ evidence = 5, view = "database"',
            '{ evidence = 5, view = "logs"',
            "not seen in logs",
        ),
        (
            "memory-leak",
            'query = "process_resident_memory_bytes" }',
            'query = "process_open_fds" }',
            "must name one of memory",
        ),
        ("connection-leak", "{ decoy = 1,", "{ decoy = 2,", "decoy 2 has no window overlapping"),
        (
            "connection-leak",
            'competes_with = "metrics"',
            'competes_with = "jobs"',
            "decoy 1 is not seen in jobs",
        ),
        ("redis-keys-scan", 'code = ["platform_api/', 'code = ["tests/', "platform_api/...py paths"),
        ("baseline", "landing_pinpoints = true\n", "landing_pinpoints = false\n", "derives 'medium'"),
        (
            "redis-keys-scan",
            '{ evidence = 1, view = "overview" }',
            '{ evidence = 6, view = "code" }',
            "code is not a signal",
        ),
        ("baseline", "[shortest_path]\nlanding_pinpoints = true\n", "", "shortest_path"),
    ],
)
def test_a_path_its_scenario_does_not_back_is_refused(tmp_path, scenario_id, old, new, expected):
    path = _copy(tmp_path, scenario_id)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ScenarioError, match=re.escape(expected)):
        scenarios.load_file(path)
