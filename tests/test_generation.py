"""Generation runs: determinism, caching, patches, interrupted runs, the CLI around them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obsim import scenario as scenarios
from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset, DatasetError
from obsim_cli.dataset_cache import dataset_key
from obsim_cli.generate import GenerationError, generate, generate_each
from obsim_cli.main import main
from tests.conftest import RUNS
from tests.short_scenario import short_scenario


def _export_all(dataset_dir: Path, out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    with Dataset.open(dataset_dir) as dataset:
        EXPORTERS["openmetrics"](dataset, out / "metrics.om")
        EXPORTERS["jsonl"](dataset, out / "logs.jsonl")
        EXPORTERS["otlp-json"](dataset, out / "otlp")
    return {
        name: (out / name).read_bytes()
        for name in ("metrics.om", "logs.jsonl", "otlp/traces.jsonl", "otlp/logs.jsonl")
    }


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("short")
    scenario = short_scenario(root / "scenarios")
    runs = {}
    for name, seed, hash_seed in [("a", 1, "0"), ("b", 1, "12345"), ("other-seed", 2, "0")]:
        os.environ["PYTHONHASHSEED"] = hash_seed
        try:
            result = generate(scenario, seed=seed, out=root / f"dataset-{name}", use_cache=False, quiet=True)
        finally:
            del os.environ["PYTHONHASHSEED"]
        runs[name] = _export_all(result.path, root / f"export-{name}")
    return runs


def test_same_seed_gives_byte_identical_exports_across_hash_seeds(short_runs):
    for name, content in short_runs["a"].items():
        assert content, f"{name} is empty"
        assert content == short_runs["b"][name], f"{name} differs between two runs of the same seed"


def test_another_seed_gives_different_telemetry(short_runs):
    assert short_runs["a"]["metrics.om"] != short_runs["other-seed"]["metrics.om"]
    assert short_runs["a"]["otlp/traces.jsonl"] != short_runs["other-seed"]["otlp/traces.jsonl"]


def test_the_cache_key_follows_what_the_simulation_reads(tmp_path):
    scenario = short_scenario(tmp_path / "scenarios")
    key = dataset_key(scenario, 1, None)
    reworded = scenario.model_copy(update={"brief": "Something else.", "hints": (), "title": "Other"})
    assert dataset_key(reworded, 1, None) == key, "a brief, hint or ground-truth edit must keep the datasets"
    relabelled = scenario.model_copy(
        update={"difficulty": "hard", "shortest_path": scenario.shortest_path.model_copy(update={"code": ()})}
    )
    assert dataset_key(relabelled, 1, None) == key, (
        "a difficulty or shortest-path edit must keep the datasets"
    )
    busier = scenario.model_copy(update={"load": scenario.load.model_copy(update={"base_rps": 30.0})})
    assert dataset_key(busier, 1, None) != key
    assert dataset_key(scenario, 2, None) != key
    assert dataset_key(scenario, 1, b"--- a\n+++ b\n") != key


def test_generating_ahead_runs_side_by_side_and_one_failure_spares_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("OBSIM_CACHE_DIR", str(tmp_path / "cache"))
    good = short_scenario(tmp_path / "good")
    broken = short_scenario(tmp_path / "broken")
    broken.source.write_text("id = ")  # edited into garbage after it was loaded: the worker refuses it
    outcomes = {id(o.scenario): o for o in generate_each([broken, good], jobs=2)}
    assert outcomes[id(good)].generated is not None and not outcomes[id(good)].generated.cached
    assert outcomes[id(broken)].generated is None
    assert "failed with exit code" in str(outcomes[id(broken)].error)
    (again,) = generate_each([good], jobs=1)
    assert again.generated is not None and again.generated.cached
    assert again.generated.path == outcomes[id(good)].generated.path
    assert "short" not in again.generated.path.name, "dataset directory names must be opaque"


def test_generate_all_reports_every_scenario_ready_once_generated(datasets, capsys):
    """After the session's runs, every scenario's default dataset is in the cache."""
    for name, (_, fixed) in RUNS.items():
        if not fixed:
            datasets[name]
    assert main(["generate", "--all", "--jobs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in lines if line.startswith("cached")) == scenarios.available()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "generated on first run" not in listing and listing.count(" ready") == len(scenarios.available())


def test_a_dataset_missing_its_incident_is_refused(tmp_path):
    scenario = short_scenario(tmp_path / "scenarios", keep_readiness=True)
    with pytest.raises(GenerationError, match="readiness assertions: peak_pool_used_ratio is"):
        generate(scenario, out=tmp_path / "out", use_cache=False, quiet=True)
    assert not (tmp_path / "out").exists()


def test_a_patch_that_does_not_apply_is_refused_clearly(tmp_path):
    scenario = short_scenario(tmp_path / "scenarios")
    bad = tmp_path / "bad.patch"
    bad.write_text(
        "--- a/app_under_test/platform_api/lib/clock.py\n+++ b/app_under_test/platform_api/lib/clock.py\n@@ -1,1 +1,1 @@\n-nothing here\n+x\n"
    )
    with pytest.raises(GenerationError, match="does not apply"):
        generate(scenario, patch_file=bad, out=tmp_path / "out", use_cache=False, quiet=True)
    assert not (tmp_path / "out").exists()


def test_a_killed_run_leaves_no_usable_dataset(tmp_path):
    scenario = short_scenario(tmp_path / "scenarios")
    target = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "obsim_cli.generation_worker",
            "--scenario-file",
            str(scenario.source),
            "--seed",
            "1",
            "--out",
            str(target),
            "--manifest",
            "{}",
            "--quiet",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("killed.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    with pytest.raises(DatasetError):
        Dataset.open(target)
    for leftover in tmp_path.glob("killed.partial-*"):
        with pytest.raises(DatasetError):
            Dataset.open(leftover)


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped has ended: it can publish nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_a_run_whose_parent_is_killed_stops_and_publishes_nothing(tmp_path):
    scenario = short_scenario(tmp_path / "scenarios", keep_readiness=True)
    target = tmp_path / "orphaned"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from obsim.scenario import load_file;"
            " from obsim_cli.generate import generate;"
            " generate(load_file(Path(sys.argv[1])), out=Path(sys.argv[2]), use_cache=False, quiet=True)",
            str(scenario.source),
            str(target),
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    deadline = time.monotonic() + 60
    while not (stagings := list(tmp_path.glob("orphaned.partial-*"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stagings, "the worker never started writing"
    worker = int(stagings[0].name.rpartition(".partial-")[2])
    assert _running(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker), "the generation worker outlived the process that started it"
    assert not target.exists(), "a dataset was published with nobody left to check it"


def test_cli_generate_export_and_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OBSIM_CACHE_DIR", str(tmp_path / "cache"))
    scenario = short_scenario(tmp_path / "scenarios")
    assert main(["generate", str(scenario.source)]) == 0
    summary = capsys.readouterr().out
    assert "requests" in summary and "pool peak" in summary
    again = generate(scenario, quiet=True)
    assert again.cached and f"dataset   {again.path}" in summary
    generated = again.path
    assert main(["export", str(generated), "--format", "jsonl", "--out", str(tmp_path / "logs.jsonl")]) == 0
    assert (tmp_path / "logs.jsonl").stat().st_size > 0
    assert main(["export", str(tmp_path / "missing"), "--format", "jsonl", "--out", str(tmp_path / "x")]) == 2
    assert "error" in capsys.readouterr().err
    outdated = generated.with_name("0" * 20)
    shutil.copytree(generated, outdated)
    manifest = json.loads((outdated / "manifest.json").read_text())
    (outdated / "manifest.json").write_text(json.dumps({**manifest, "code_hash": "older code"}))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    leftover = generated.with_name(f"{'1' * 20}.partial-{gone.pid}")
    leftover.mkdir()
    (leftover / "telemetry.sqlite").write_bytes(b"x" * 1000)
    capsys.readouterr()
    assert main(["cache", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing if "outdated" in line] == [outdated.name]
    assert main(["cache", "prune"]) == 0
    assert "removed 1 outdated dataset(s)" in capsys.readouterr().out
    assert not outdated.exists() and not leftover.exists() and generated.exists()
    assert main(["cache", "clear"]) == 0
    assert not generated.exists()


def test_a_bare_dataset_is_served_with_the_brief_of_the_scenario_it_recorded(datasets, tmp_path):
    from obsim_cli.main import _recorded_scenario_brief

    recorded = datasets["memory-leak"]
    assert _recorded_scenario_brief(recorded) == scenarios.load("memory-leak").brief != ""
    foreign = tmp_path / "foreign"
    shutil.copytree(recorded, foreign)
    manifest = json.loads((foreign / "manifest.json").read_text())
    (foreign / "manifest.json").write_text(json.dumps({**manifest, "scenario": "not-in-this-checkout"}))
    assert _recorded_scenario_brief(foreign) == ""
