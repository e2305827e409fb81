"""Session-wide datasets: each scenario is generated once per test run and shared by every test.

All runs start together on a small worker pool (the machine has two cores), then each is exported
to OpenMetrics and JSON lines, which is what the symptom tests read.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from obsim import scenario as scenarios
from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from tests.exported import Metrics

# name -> (scenario id, apply the scenario's fix.patch)
RUNS: dict[str, tuple[str, bool]] = {
    "cron-storm": ("cron-storm", False),
    "cron-storm-fixed": ("cron-storm", True),
    "connection-leak": ("connection-leak", False),
    "connection-leak-fixed": ("connection-leak", True),
    "baseline": ("baseline", False),
}


def _generate(scenario_id: str, fixed: bool) -> Path:
    from simulator.generate import generate

    loaded = scenarios.load(scenario_id)
    patch = scenarios.fix_patch(loaded) if fixed else None
    return generate(loaded, patch_file=patch, quiet=True).path


@pytest.fixture(scope="session")
def datasets() -> dict[str, Path]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_generate, *spec) for name, spec in RUNS.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="session")
def exports(datasets, tmp_path_factory) -> dict[str, dict[str, Path]]:
    root = tmp_path_factory.mktemp("exports")
    out: dict[str, dict[str, Path]] = {}
    for name, path in datasets.items():
        with Dataset.open(path) as dataset:
            metrics_file = root / f"{name}.om"
            logs_file = root / f"{name}.logs.jsonl"
            EXPORTERS["openmetrics"](dataset, metrics_file)
            EXPORTERS["jsonl"](dataset, logs_file)
        out[name] = {"metrics": metrics_file, "logs": logs_file}
    return out


@pytest.fixture(scope="session")
def metrics(exports) -> dict[str, Metrics]:
    return {name: Metrics.parse(files["metrics"]) for name, files in exports.items()}
