"""n-plus-one-deploy: the 13:52 release makes the workflow list run one query per row; the reference
fix loads the page's latest runs in one statement.

What the deploy must leave in the data (a version label, the pipeline's and gunicorn's log lines, a
new worker process) and what the N+1 does to each list request are read from the dataset's spans
and logs; the release mechanics themselves (importing another release, the scenario's ``deploy``
table) are tested without generating anything.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim.scenario import ScenarioError
from obsim.symptom_figures import _per_minute_totals
from world import release

REPO = Path(__file__).resolve().parent.parent
SCENARIO = "n-plus-one-deploy"
DEPLOYED = datetime(2026, 4, 14, 13, 52, tzinfo=UTC).timestamp()
SERVING = DEPLOYED + 8  # the new worker has booted and serves every new request
LIST = "GET /api/v1/workflows"

# Per dashboard list request (include=last_run): its start, page size and the number of SELECT
# statements in its trace.
_LIST_REQUESTS = """
SELECT s.start, CAST(substr(json_extract(s.attributes, '$."url.query"'),
                     instr(json_extract(s.attributes, '$."url.query"'), 'page_size=') + 10) AS INTEGER),
       (SELECT count(*) FROM spans c WHERE c.trace_id = s.trace_id AND c.kind = 'client' AND c.name LIKE 'SELECT%')
FROM spans s
WHERE s.service = 'platform-api' AND s.kind = 'server' AND s.name = ?
  AND json_extract(s.attributes, '$."url.query"') LIKE '%include=last_run%'
"""


def _list_requests(path: Path) -> list[tuple[float, int, int]]:
    with Dataset.open(path) as dataset:
        return dataset.connection.execute(_LIST_REQUESTS, (LIST,)).fetchall()


def _statements(requests: list[tuple[float, int, int]], page_size: int, after: bool) -> list[int]:
    return [n for start, size, n in requests if size == page_size and (start >= SERVING) == after]


@pytest.mark.slow
def test_the_deploy_is_in_the_data(datasets):
    with Dataset.open(datasets[SCENARIO]) as dataset:
        db = dataset.connection
        pipeline = db.execute(
            "SELECT ts, message FROM logs WHERE service = 'deploy-pipeline' ORDER BY ts"
        ).fetchall()
        assert [message for _, message in pipeline] == [
            "deploy started: platform-api 4.18.2 -> 4.19.0",
            "deploy finished: platform-api 4.19.0 on app-1",
        ]
        assert pipeline[0][0] == DEPLOYED
        gunicorn = [
            message
            for (message,) in db.execute(
                "SELECT message FROM logs WHERE logger = 'gunicorn.error' AND ts BETWEEN ? AND ? ORDER BY ts, id",
                (DEPLOYED, SERVING),
            )
        ]
        assert gunicorn[:2] == ["Handling signal: hup", "Hang up: Master"]
        assert gunicorn[2].startswith("Booting worker with pid: ")
        assert gunicorn[3].startswith("Worker exiting (pid: ")
        started = db.execute(
            "SELECT ts, json_extract(attributes, '$.\"service.version\"') FROM logs"
            " WHERE message = 'service started' ORDER BY ts"
        ).fetchall()
        # The first release booted hours before the window; the deploy's worker logs its start.
        assert started == [(SERVING, "4.19.0")]
        versions = {
            json_labels: (first, last)
            for json_labels, first, last in db.execute(
                "SELECT s.labels, min(m.ts), max(m.ts) FROM metric_samples m JOIN metric_series s"
                " ON s.id = m.series_id WHERE s.sample_name = 'service_build_info' GROUP BY s.labels"
            )
        }
        assert set(versions) == {'{"version":"4.18.2"}', '{"version":"4.19.0"}'}
        assert versions['{"version":"4.18.2"}'][1] < versions['{"version":"4.19.0"}'][0]
        # Every request the service served says which release served it.
        served_by = dict(
            db.execute(
                "SELECT json_extract(attributes, '$.\"service.version\"'), count(*) FROM spans"
                " WHERE service = 'platform-api' AND kind = 'server' AND start >= ? GROUP BY 1",
                (SERVING + 1,),
            ).fetchall()
        )
        assert set(served_by) == {"4.19.0"}


@pytest.mark.slow
def test_after_the_deploy_a_list_request_runs_a_query_per_row(datasets):
    requests = _list_requests(datasets[SCENARIO])
    for size in (25, 50):
        before, after = _statements(requests, size, False), _statements(requests, size, True)
        assert len(before) >= 100 and len(after) >= 100
        assert max(before) <= 3, "before the deploy a page is a count and a select"
        # Full pages run page_size + 2 statements; a tenant's last page has fewer rows.
        assert statistics.median(after) == size + 2
        assert max(after) <= size + 3


@pytest.mark.slow
def test_latency_grows_with_page_size_only_after_the_deploy(datasets):
    with Dataset.open(datasets[SCENARIO]) as dataset:
        rows = dataset.connection.execute(
            "SELECT start, duration, json_extract(attributes, '$.\"url.query\"') FROM spans"
            " WHERE service = 'platform-api' AND kind = 'server' AND name = ?",
            (LIST,),
        ).fetchall()

    def mean(after: bool, size: int) -> float:
        return statistics.fmean(
            d
            for start, d, query in rows
            if (start >= SERVING) == after and query.endswith(f"page_size={size}&include=last_run")
        )

    assert mean(True, 25) >= 1.5 * mean(False, 25)
    assert mean(True, 50) / mean(True, 25) >= 1.5
    assert mean(False, 50) / mean(False, 25) <= 1.3


@pytest.mark.slow
def test_the_fix_keeps_a_list_request_to_a_few_statements(datasets):
    requests = _list_requests(datasets[f"{SCENARIO}-fixed"])
    for size in (25, 50):
        after = _statements(requests, size, True)
        assert len(after) >= 100
        assert max(after) <= 4, "the fixed list loads the page's latest runs in one statement"


def test_the_previous_release_and_the_fix_apply_to_the_checkout(tmp_path):
    loaded = scenarios.load(SCENARIO)
    for patch in (loaded.directory / "previous_release.patch", scenarios.fix_patch(loaded)):
        tree = tmp_path / patch.stem
        shutil.copytree(REPO / "app_under_test", tree / "app_under_test")
        result = subprocess.run(
            ["git", "apply", "-p1", str(patch)], cwd=tree, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    previous = (
        tmp_path / "previous_release" / "app_under_test/platform_api/api/routes/workflows.py"
    ).read_text()
    assert "latest_run" not in previous.split("def list_workflows", 1)[1].split("@bp.", 1)[0]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("at_minute = 12", "at_minute = 40", "deploy.at_minute must fall inside the window"),
        ('to_version = "4.19.0"', 'to_version = "4.18.2"', "to_version must differ"),
        ("[deploy]", '[deploy]\nprevious_release = "../other.patch"', "deploy.previous_release"),
    ],
)
def test_a_malformed_deploy_is_refused(tmp_path, old, new, expected):
    target = tmp_path / SCENARIO
    shutil.copytree(REPO / "scenarios" / SCENARIO, target)
    path = target / scenarios.SCENARIO_FILE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ScenarioError, match=expected):
        scenarios.load_file(path)


def test_a_missing_previous_release_is_a_clear_error(tmp_path):
    target = tmp_path / SCENARIO
    shutil.copytree(REPO / "scenarios" / SCENARIO, target)
    (target / "previous_release.patch").unlink()
    with pytest.raises(ScenarioError, match="previous release"):
        scenarios.previous_release(scenarios.load_file(target / scenarios.SCENARIO_FILE))


def test_a_release_is_imported_afresh_from_its_own_directory(tmp_path):
    """In a fresh interpreter: load one copy of the code, then another; the second import's
    modules are new objects from the second directory, and the first's stay usable."""
    for name in ("old", "new"):
        shutil.copytree(REPO / "app_under_test", tmp_path / name)
    (tmp_path / "new/platform_api/lib/marker.py").write_text("RELEASE = 'new'\n")
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from world import release
old = release.load(Path({str(tmp_path / "old")!r}))
registry = old.metrics.REGISTRY
new = release.load(Path({str(tmp_path / "new")!r}))
assert new.metrics.REGISTRY is not registry
assert Path(new.package.__file__).is_relative_to({str(tmp_path / "new")!r})
assert Path(old.package.__file__).is_relative_to({str(tmp_path / "old")!r})
import platform_api.lib.marker as marker
assert marker.RELEASE == "new"
assert old.config.load_settings(environ={{"SERVICE_VERSION": "1.0"}}).service_version == "1.0"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert release.PACKAGE == "platform_api"


def test_a_restarted_counter_counts_from_zero_in_the_figures():
    series = {'{"code":"200"}': [(60.0, 10.0), (120.0, 25.0), (180.0, 4.0), (240.0, 9.0)]}
    assert _per_minute_totals(series) == {0: 10.0, 1: 15.0, 2: 4.0, 3: 5.0}
