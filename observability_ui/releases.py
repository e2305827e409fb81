"""The service's release history, as its repository's releases and compare pages show it.

Which releases served, and when, comes from the recording: every process reports its version in
``service_build_info``, so a version's series says from when to when it ran (a Grafana annotation
query reads deploys the same way, :mod:`annotations`).  What a deploy changed is the diff between
its two tags, which a hosting service's compare view shows: the browsed code is the release serving
at the end of the recording, and a scenario whose window holds a deploy keeps the release before it
as the diff from that code (``scenario.toml`` ``[deploy]``, ``previous_release.patch``, the one the
simulator runs first).  Nothing else of the scenario's directory is read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from observability_ui import unified_diff
from observability_ui.request_context import dataset
from observability_ui.views.metrics_common import SCRAPE_INTERVAL_S, range_series
from obsim import scenario as scenarios
from obsim.scenario import Scenario, ScenarioError
from obsim.timerange import TimeRange, resolve

CONTEXT_LINES = 3  # around each change, as ``git diff`` and compare views show
BUILD_INFO = "service_build_info"  # one series per version a process reported, with label ``version``


@dataclass(frozen=True)
class Release:
    """A version of the service and when the recording saw it serve."""

    version: str
    first_seen: float
    last_seen: float
    serving_at_start: bool  # already serving when the recording began: its deploy is not in it

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "serving_at_start": self.serving_at_start,
        }


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added, removed or modified
    additions: int
    deletions: int
    diff: tuple[str, ...]  # the unified diff's lines, hunk headers included, without file headers

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "status": self.status,
            "additions": self.additions,
            "deletions": self.deletions,
            "diff": list(self.diff),
        }


@dataclass(frozen=True)
class Comparison:
    """``base...head``: what deploying ``head`` over ``base`` changed in the code."""

    base: str
    head: str
    files: tuple[FileChange, ...]

    def as_json(self) -> dict[str, object]:
        return {"base": self.base, "head": self.head, "files": [f.as_json() for f in self.files]}


def serving(tr: TimeRange | None = None) -> list[Release]:
    """The versions seen serving in the range (the whole recording by default), in the order they
    started; one already serving at the range's first scrape is ``serving_at_start``."""
    tr = tr or resolve(None, None, dataset().window())
    found = []
    for series in range_series(BUILD_INFO, tr):
        if series.points:
            first, last = series.points[0][0], series.points[-1][0]
            version = series.labels.get("version", "?")
            found.append(Release(version, first, last, first <= tr.start + SCRAPE_INTERVAL_S))
    return sorted(found, key=lambda release: release.first_seen)


def deployed_scenario() -> Scenario | None:
    """The scenario the request's dataset was generated from, when it holds a deploy."""
    scenario_id = dataset().manifest.get("scenario")
    return _with_deploy(scenario_id) if isinstance(scenario_id, str) else None


@lru_cache(maxsize=64)
def _with_deploy(scenario_id: str) -> Scenario | None:
    """The scenario ``scenario_id`` if this checkout has it and it deploys (read once per process:
    the scenario files do not change while a server runs)."""
    if scenario_id not in scenarios.available():
        return None
    try:
        loaded = scenarios.load(scenario_id)
    except ScenarioError:
        return None
    return loaded if loaded.deploy is not None else None


def comparisons(code_root: Path) -> list[Comparison]:
    """The compare view of each deploy the recording holds (none without one)."""
    scenario = deployed_scenario()
    if scenario is None or scenario.deploy is None:
        return []
    seen = {release.version for release in serving()}
    deploy = scenario.deploy
    if not {deploy.from_version, deploy.to_version} <= seen:
        return []  # the recording does not show this deploy: say nothing of it
    patch = scenarios.previous_release(scenario) or b""
    return [compare(deploy.from_version, deploy.to_version, patch.decode("utf-8"), str(code_root))]


@lru_cache(maxsize=8)
def compare(base: str, head: str, previous_release: str, code_root: str) -> Comparison:
    """The diff from the release before the deploy (the checkout with ``previous_release``
    applied) to the checkout.  Cached: the code and the diff do not change while a server runs."""
    root = Path(code_root)
    package = root.name + "/"

    def checkout(path: str) -> str | None:
        file = root / path.removeprefix(package)
        return file.read_text(encoding="utf-8") if path.startswith(package) and file.is_file() else None

    before = unified_diff.apply(previous_release, checkout)
    files = []
    for path in sorted(before):
        old, new = before[path], checkout(path)
        old_lines = (old or "").splitlines()
        new_lines = (new or "").splitlines()
        # the first two lines are the file headers, which the page shows as the file's name
        diff = tuple(difflib.unified_diff(old_lines, new_lines, n=CONTEXT_LINES, lineterm=""))[2:]
        status = "added" if old is None else "removed" if new is None else "modified"
        files.append(
            FileChange(
                path.removeprefix(package),
                status,
                sum(line.startswith("+") for line in diff),
                sum(line.startswith("-") for line in diff),
                diff,
            )
        )
    return Comparison(base, head, tuple(files))
