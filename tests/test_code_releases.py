"""The code browser's release history: the tags the recording saw serve, and a deploy's compare view.

A deploy is the first thing an engineer checks, in the repository's releases and compare pages.  The
releases come from ``service_build_info`` in the recording; the diff of a deploy is the scenario's
release diff reversed (the browsed code is the release deployed), and nothing else of the
scenario's directory (its fix, its answer) may show.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interview.timeline import describe_request
from observability_ui import unified_diff
from observability_ui.application import create_app
from observability_ui.views.code import CODE_ROOT
from obsim import scenario as scenarios
from obsim.dataset.writer import DatasetWriter

DEPLOY = scenarios.load("n-plus-one-deploy")
NO_DEPLOY = scenarios.load("cron-storm")


def _recording(directory: Path, scenario: scenarios.Scenario) -> Path:
    """The scenario's window with the build-info series its releases report: the previous release
    until the deploy's minute, the deployed one after (one release throughout without a deploy)."""
    start, end = scenario.window.start.timestamp(), scenario.window.end.timestamp()
    deploy = scenario.deploy
    switch = start + deploy.at_minute * 60 + 8 if deploy else end + 1
    writer = DatasetWriter(directory / scenario.id)

    def build(version: str) -> int:
        return writer.series_id(
            "service_build", "info", "The build.", "service_build_info", {"version": version}
        )

    old = build(deploy.from_version if deploy else scenario.service_version)
    new = build(scenario.service_version)
    scrapes = [start + 15 * i for i in range(int((end - start) // 15) + 1)]
    writer.add_samples((old if t < switch else new, t, 1.0) for t in scrapes)
    return writer.finish({"scenario": scenario.id, "window_start": start, "window_end": end})


def _released_files() -> set[str]:
    """The files the release changed, as the scenario's release diff names them.  A release ships
    many unrelated changes: the one that matters must be found with the telemetry, not by being
    the only file the compare view lists."""
    patch = scenarios.previous_release(DEPLOY).decode()
    files = {line.removeprefix("--- a/") for line in patch.splitlines() if line.startswith("--- a/")}
    assert len(files) >= 6 and "app_under_test/platform_api/api/routes/workflows.py" in files
    return files


@pytest.fixture
def deployed(tmp_path):
    return create_app(_recording(tmp_path, DEPLOY), brief=DEPLOY.brief).test_client()


def test_the_release_diff_applies_to_the_checkout_and_reverses_exactly():
    patch = scenarios.previous_release(DEPLOY).decode()

    def checkout(path: str) -> str | None:
        file = CODE_ROOT.parent / path
        return file.read_text() if file.is_file() else None

    before = unified_diff.apply(patch, checkout)
    assert set(before) == _released_files()
    old = before["app_under_test/platform_api/api/routes/workflows.py"]
    assert old != checkout("app_under_test/platform_api/api/routes/workflows.py")
    assert "_with_latest_run" not in old  # the release before had no last-run expansion
    with pytest.raises(unified_diff.PatchError, match="does not match"):
        unified_diff.apply(patch, lambda path: "something else entirely\n" * 200)


def test_a_deploy_shows_both_tags_and_its_compare_view(deployed):
    answer = deployed.get("/api/code/releases").get_json()
    assert [r["version"] for r in answer["releases"]] == ["4.19.0", "4.18.2"]
    assert answer["releases"][1]["serving_at_start"] and not answer["releases"][0]["serving_at_start"]
    (comparison,) = answer["comparisons"]
    assert (comparison["base"], comparison["head"]) == ("4.18.2", "4.19.0")
    listed = {changed["path"] for changed in comparison["files"]}
    assert listed == {path.removeprefix("app_under_test/") for path in _released_files()}
    assert "platform_api/api/routes/workflows.py" in listed
    for changed in comparison["files"]:
        assert changed["status"] == "modified", changed["path"]
        added = [line[1:] for line in changed["diff"] if line.startswith("+")]
        removed = [line for line in changed["diff"] if line.startswith("-")]
        assert (changed["additions"], changed["deletions"]) == (len(added), len(removed)) != (0, 0)
        source = (CODE_ROOT / changed["path"]).read_text().splitlines()
        assert all(line in source for line in added), "the head of the compare is the code browsed"

    page = deployed.get("/code/releases").get_data(as_text=True)
    assert 'Comparing <span class="mono">4.18.2...4.19.0</span>' in page
    for path in listed:
        assert f'href="/code/{path}"' in page, path
    code = deployed.get("/code/").get_data(as_text=True)
    assert re.search(
        r"platform-api 4\.19\.0</span>, the release serving since 2026-04-14 13:52:\d\d UTC", code
    )
    assert 'data-testid="releases-link"' in code


def test_nothing_of_the_fix_shows_in_the_release_history(deployed):
    shown = deployed.get("/code/releases").get_data(as_text=True)
    fix = scenarios.fix_patch(DEPLOY).read_text().splitlines()
    fixed_lines = [line[1:].strip() for line in fix if line.startswith("+") and not line.startswith("+++")]
    leaked = [line for line in fixed_lines if len(line) > 12 and line in shown]
    assert not leaked, leaked


def test_without_a_deploy_the_code_is_the_release_serving_throughout(tmp_path):
    client = create_app(_recording(tmp_path, NO_DEPLOY), brief=NO_DEPLOY.brief).test_client()
    answer = client.get("/api/code/releases").get_json()
    assert [r["version"] for r in answer["releases"]] == [NO_DEPLOY.service_version]
    assert answer["comparisons"] == []
    assert 'data-testid="no-deploy"' in client.get("/code/releases").get_data(as_text=True)
    code = client.get("/code/platform_api/api/app.py").get_data(as_text=True)
    assert f"platform-api {NO_DEPLOY.service_version}</span>, the release serving throughout" in code


@pytest.mark.slow
def test_the_generated_deploy_reads_the_same(datasets):
    client = create_app(datasets["n-plus-one-deploy"], brief=DEPLOY.brief).test_client()
    answer = client.get("/api/code/releases").get_json()
    assert [r["version"] for r in answer["releases"]] == [
        DEPLOY.deploy.to_version,
        DEPLOY.deploy.from_version,
    ]
    assert [c["head"] for c in answer["comparisons"]] == [DEPLOY.deploy.to_version]
    deployed_at = answer["releases"][0]["first_seen"]
    planned = DEPLOY.window.start.timestamp() + DEPLOY.deploy.at_minute * 60
    assert planned <= deployed_at <= planned + 120


def test_the_interview_timeline_names_the_release_history():
    """A candidate who checked the deploy reads so in the interviewer's timeline, page or API."""
    assert describe_request({"path": "/code/releases", "args": {}}) == "Code: the release history"
    assert describe_request({"path": "/api/code/releases", "args": {}}) == "Code (API): the release history"
