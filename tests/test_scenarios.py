"""Scenario files: every shipped one validates; malformed ones fail whole, naming file and field."""

import ast
import shutil
from pathlib import Path

import pytest

from obsim import scenario as scenarios
from obsim.scenario import ScenarioError
from obsim_cli.main import main


def test_every_shipped_scenario_validates():
    loaded = scenarios.load_all()
    assert {"baseline", "connection-leak", "cron-storm"} <= {s.id for s in loaded}
    for s in loaded:
        if s.faulty:
            assert s.ground_truth is not None and s.rubric is not None
            assert (s.directory / scenarios.FIX_PATCH).exists(), f"{s.id} has no fix.patch"
            for cause in s.ground_truth.root_causes:
                path = scenarios.SCENARIOS_DIR.parent / "app_under_test" / cause.file
                assert path.exists(), f"{s.id}: {cause.file} does not exist"
                first, last = _definition_lines(path, cause.function)
                assert first <= cause.lines[0] <= cause.lines[1] <= last, (
                    f"{s.id}: {cause.file} lines {cause.lines} are not inside {cause.function} ({first}-{last})"
                )


def _definition_lines(path: Path, name: str) -> tuple[int, int]:
    """The first and last line of the function (or method, or class) called ``name`` in the module
    at ``path``, its decorators included."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            assert node.end_lineno is not None
            return first, node.end_lineno
    raise AssertionError(f"{path} defines no {name}")


def test_window_requirements_of_the_founding_scenarios():
    storm = scenarios.load("cron-storm")
    assert storm.window.duration_s >= 3 * 3600
    first_hour = int(storm.window.start.timestamp()) // 3600 + 1
    last_hour = int(storm.window.end.timestamp()) // 3600
    assert last_hour - first_hour + 1 >= 3, "fewer than 3 tops of the hour in the window"
    assert scenarios.load("connection-leak").window.duration_s >= 90 * 60
    assert scenarios.load("baseline").window.duration_s >= 3 * 3600
    assert scenarios.DEFAULT_SCENARIO == "cron-storm"


def _copy(tmp_path: Path, scenario_id: str = "baseline") -> Path:
    target = tmp_path / scenario_id
    shutil.copytree(scenarios.SCENARIOS_DIR / scenario_id, target)
    return target / scenarios.SCENARIO_FILE


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("base_rps = 10.0", 'base_rps = "fast"', "load.base_rps"),
        ('difficulty = "easy"', 'difficulty = "brutal"', "difficulty"),
        ("end = 2026-03-10T13:10:00Z", "end = 2026-03-10T08:00:00Z", "window"),
        ("start = 2026-03-10T09:50:00Z", "start = 2026-03-10T09:50:00", "window.start"),
        ("list_workflows = 16", "list_workflowz = 16", "load.mix"),
        ("tenants = 12", "tenants = -1", "data.tenants"),
        ("faulty = false", "faulty = true", "ground_truth"),
        ("[data]", "[data]\nsurprise = 1", "data.surprise"),
    ],
)
def test_malformed_scenarios_name_the_file_and_field(tmp_path, old, new, expected):
    path = _copy(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        scenarios.load_file(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_invalid_toml_and_missing_files_are_clear(tmp_path):
    path = _copy(tmp_path)
    path.write_text("id = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        scenarios.load_file(path)
    with pytest.raises(ScenarioError, match="no such file"):
        scenarios.load_file(tmp_path / "nope" / "scenario.toml")
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        scenarios.load("nope")


def test_id_must_match_directory(tmp_path):
    path = _copy(tmp_path)
    renamed = path.parent.with_name("other")
    path.parent.rename(renamed)
    with pytest.raises(ScenarioError, match="does not match its directory"):
        scenarios.load_file(renamed / scenarios.SCENARIO_FILE)


def test_cli_list_and_validate(capsys, tmp_path, monkeypatch):
    from obsim.dataset.schema import MANIFEST_NAME
    from obsim_cli import dataset_cache as cache

    monkeypatch.setenv("OBSIM_CACHE_DIR", str(tmp_path / "cache"))
    ready = scenarios.load("connection-leak")
    key = cache.dataset_key(ready, ready.default_seed, None)
    (tmp_path / "cache" / key).mkdir(parents=True)
    (tmp_path / "cache" / key / MANIFEST_NAME).write_text("{}")
    assert main(["list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "TIME LIMIT" in listed["ID"] and "DIFFICULTY" in listed["ID"]
    assert "medium" in listed["cron-storm"] and "18 min" in listed["cron-storm"]
    assert listed["connection-leak"].endswith("ready")
    assert listed["cron-storm"].endswith("generated on first run")
    assert set(listed) - {"ID"} == {s.id for s in scenarios.load_all()}
    assert main(["validate"]) == 0
    path = _copy(tmp_path)
    path.write_text(path.read_text().replace("tenants = 12", "tenants = 0"))
    assert main(["validate", str(path)]) == 2
    assert "data.tenants" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('{ root = "leak", text = "Make', '{ text = "Make', "give every fix a root, or none"),
        ('{ kind = "resource-leak"', '{ kind = "leaky-bucket"', "kind must be one of"),
        (
            '{ repeats = "hourly", at_minute = 0 }',
            '{ repeats = "hourly" }',
            "an hourly fault needs at_minute",
        ),
    ],
)
def test_a_malformed_incident_with_two_roots_is_refused(tmp_path, old, new, expected):
    path = _copy(tmp_path, "storm-and-leak")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ScenarioError, match=expected):
        scenarios.load_file(path)
