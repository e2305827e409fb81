"""Session-wide datasets: each scenario is generated once per test run and shared by every test.

All runs start together on a small worker pool (the machine has two cores) as soon as the session
starts, then each is exported to OpenMetrics and JSON lines, which is what the symptom tests read.
Tests that need no dataset run first, while the runs generate: many of them mostly wait (live
mode's real-time runs, the browser, servers starting), so they cost the generation little.  While working on one part,
``OBSIM_TEST_DATASETS=connection-leak,cron-storm pytest tests/test_ui_api.py`` starts only the
listed runs up front; any other run is still generated if a test asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from interview.store import InterviewStore
from obsim import scenario as scenarios
from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset
from obsim.dataset.writer import DatasetWriter
from obsim_cli import dataset_cache as cache
from obsim_cli.generate import generate
from tests.exported import Metrics
from tests.postgres import postgres_url  # noqa: F401  (a fixture for every test module)

# name -> (scenario id, apply the scenario's fix.patch).  Generated in this order, two at a time:
# the longest first (3-hour windows, then 1.5-hour ones), so the short ones fill in at the end.
RUNS: dict[str, tuple[str, bool]] = {
    "baseline": ("baseline", False),
    "cron-storm": ("cron-storm", False),
    "cron-storm-fixed": ("cron-storm", True),
    "connection-leak-fixed": ("connection-leak", True),
    "connection-leak": ("connection-leak", False),
    "storm-and-leak-fixed": ("storm-and-leak", True),
    "storm-and-leak": ("storm-and-leak", False),
    "n-plus-one-deploy": ("n-plus-one-deploy", False),
    "n-plus-one-deploy-fixed": ("n-plus-one-deploy", True),
    "memory-leak-fixed": ("memory-leak", True),
    "memory-leak": ("memory-leak", False),
    "queue-backlog-fixed": ("queue-backlog", True),
    "queue-backlog": ("queue-backlog", False),
    "retry-storm-fixed": ("retry-storm", True),
    "retry-storm": ("retry-storm", False),
    "redis-keys-scan-fixed": ("redis-keys-scan", True),
    "redis-keys-scan": ("redis-keys-scan", False),
    "row-lock-contention-fixed": ("row-lock-contention", True),
    "row-lock-contention": ("row-lock-contention", False),
}


# Where the session's runs go, read once: a test that points OBSIM_CACHE_DIR at a directory of its
# own (and clears it) changes the environment of the whole process, these runs' threads included.
_CACHE_ROOT = cache.cache_root()


def _generate(scenario_id: str, fixed: bool) -> Path:
    loaded = scenarios.load(scenario_id)
    patch = scenarios.fix_patch(loaded) if fixed else None
    key = cache.dataset_key(loaded, loaded.default_seed, patch.read_bytes() if patch else None)
    return generate(loaded, patch_file=patch, out=_CACHE_ROOT / key, quiet=True).path


class Datasets(Mapping[str, Path]):
    """Run name -> dataset directory; a run is generated when first needed, or up front if listed."""

    def __init__(self, pool: ThreadPoolExecutor, eager: list[str]) -> None:
        self._pool = pool
        self._futures: dict[str, Future[Path]] = {}
        for name in eager:
            self._submit(name)

    def _submit(self, name: str) -> Future[Path]:
        if name not in self._futures:
            self._futures[name] = self._pool.submit(_generate, *RUNS[name])
        return self._futures[name]

    def __getitem__(self, name: str) -> Path:
        return self._submit(name).result()

    def __iter__(self) -> Iterator[str]:
        return iter(RUNS)

    def __len__(self) -> int:
        return len(RUNS)


def _needs_datasets(item: pytest.Item) -> bool:
    return "datasets" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected: only the tests that will run count
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Run the tests that need no dataset first (a stable sort keeps each group's order)."""
    items.sort(key=_needs_datasets)
    config.stash[_GENERATE_UP_FRONT] = any(_needs_datasets(item) for item in items)


_GENERATE_UP_FRONT = pytest.StashKey[bool]()


@pytest.fixture(scope="session", autouse=True)
def _start_generation(request: pytest.FixtureRequest) -> None:
    """Start the runs with the session when any selected test will need them."""
    if request.config.stash.get(_GENERATE_UP_FRONT, False):
        request.getfixturevalue("datasets")


@pytest.fixture(scope="session")
def datasets() -> Iterator[Datasets]:
    listed = os.environ.get("OBSIM_TEST_DATASETS", "")
    eager = [name.strip() for name in listed.split(",") if name.strip()] if listed else list(RUNS)
    unknown = set(eager) - set(RUNS)
    if unknown:
        raise pytest.UsageError(f"OBSIM_TEST_DATASETS: unknown runs {sorted(unknown)}; known: {list(RUNS)}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield Datasets(pool, eager)


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


HANDMADE_START = 1_773_151_200.0  # 2026-03-10 14:00 UTC, a multiple of the 15 s scrape interval
HANDMADE_SCRAPES = 241  # an hour
HANDMADE_BLOCKING_AT = HANDMADE_START + 1800  # 14:30: a transaction's row locks hold up three saves
HANDMADE_QUIET_AT = HANDMADE_START + 2700  # 14:45: nobody waits
LOCKING = "SELECT users.id FROM users WHERE users.tenant_id = $1 FOR UPDATE"
SAVE = "UPDATE users SET name=$1 WHERE users.id = $2"


def _handmade_sessions() -> list[tuple]:
    """Two pg_stat_activity snapshots in db_sessions order: at 14:30 pid 101, idle in its transaction,
    holds a row 102 waits for, and 103 and 104 queue behind 102 (104 behind 103 too), pid 105 idle;
    at 14:45 every session is idle."""

    def row(ts, pid, app, xact, change, state, wait, query, blocked_by=None):  # blocked_by: a lock wait
        return (ts, pid, "platform", "platform", app, "10.0.1.7", HANDMADE_START, xact, change, change,
                state, "Lock" if blocked_by else "Client", wait, query, blocked_by)  # fmt: skip

    t, quiet = HANDMADE_BLOCKING_AT, HANDMADE_QUIET_AT
    return [
        row(t, 101, "platform-worker", t - 40, t - 38, "idle in transaction", "ClientRead", LOCKING),
        row(t, 102, "platform-api", t - 30, t - 30, "active", "transactionid", SAVE, "{101}"),
        row(t, 103, "platform-api", t - 20, t - 20, "active", "tuple", SAVE, "{102}"),
        row(t, 104, "platform-api", t - 5, t - 5, "active", "tuple", SAVE, "{102,103}"),
        row(t, 105, "platform-api", None, t - 60, "idle", "ClientRead", "COMMIT"),
        *(
            row(quiet, pid, "platform-api", None, quiet - 9, "idle", "ClientRead", "COMMIT")
            for pid in (101, 105)
        ),
    ]


@pytest.fixture(scope="session")
def handmade_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour of a few real metric names and two session snapshots, written by the real writer in a
    moment: for UI tests that need an app over some data but not a simulated incident (no generation,
    so they run first)."""
    writer = DatasetWriter(tmp_path_factory.mktemp("handmade") / "dataset")
    pool = ("db_client_connection_count", "gauge", "connections", "db_client_connection_count")
    requests = ("http_server_request_duration_seconds", "histogram", "duration")
    series = {
        writer.series_id(*pool, {"db_client_connection_state": "idle"}): lambda i: 3.0,
        writer.series_id(*pool, {"db_client_connection_state": "used"}): lambda i: 7.0,
        writer.series_id(
            *requests, "http_server_request_duration_seconds_count", {"http_route": "/api/v1/workflows"}
        ): float,
    }
    writer.add_samples(
        (sid, HANDMADE_START + 15 * i, value(i))
        for sid, value in series.items()
        for i in range(HANDMADE_SCRAPES)
    )
    writer.add_db_sessions(_handmade_sessions())
    end = HANDMADE_START + 15 * (HANDMADE_SCRAPES - 1)
    return writer.finish({"scenario": "hand-made", "window_start": HANDMADE_START, "window_end": end})


@pytest.fixture
def interviews(tmp_path: Path) -> InterviewStore:
    """An interviews database of the test's own (SQLite), as a server's."""
    return InterviewStore(f"sqlite:///{tmp_path / 'interviews.sqlite'}")


@pytest.fixture
def token(interviews: InterviewStore) -> str:
    """The interviewer's one token, valid on every server over this database."""
    return interviews.interviewer_token(reset=True)
