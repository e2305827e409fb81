"""Where generated datasets live, and the key that says when one can be reused.

A dataset is reused only when everything that could change its bytes is the same: what the
simulation reads of the scenario (its id, version, window, load, data, app settings, degradations,
deploy and readiness checks, as parsed, and the previous release a deploy replaces), the seed, the
patch, the code of the application, simulator and dataset format, and the versions of the libraries
on the request path.  Editing a scenario's brief, hints, ground truth or rubric does not invalidate
its datasets.  Directory names are that key's digest: opaque,
so nothing a candidate sees names the incident.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path

from obsim.dataset.schema import FORMAT_VERSION, MANIFEST_NAME
from obsim.dataset.writer import directory_size, remove_abandoned_stagings
from obsim.scenario import Scenario, previous_release
from world import deployment

REPO_ROOT = Path(__file__).resolve().parent.parent
#: the code that determines a dataset: the service, the virtual-time engine, the world models it runs
#: and the dataset format (``tests/test_layers.py`` checks it covers every package the engine imports)
CODE_DIRS = ("app_under_test", "simulator", "world", "obsim/dataset")
SIMULATED_FIELDS = frozenset(
    {
        "id",
        "version",
        "faulty",
        "window",
        "load",
        "data",
        "app",
        "exporters",
        "degradations",
        "deploy",
        "readiness",
    }
)
_LIBRARIES = (
    "flask",
    "werkzeug",
    "sqlalchemy",
    "apscheduler",
    "prometheus-client",
    "faker",
    "httpx",
    "greenlet",
    "redis",
)


def cache_root() -> Path:
    return Path(os.environ.get("OBSIM_CACHE_DIR", REPO_ROOT / ".obsim" / "datasets"))


def code_hash() -> str:
    digest = hashlib.sha256()
    files = [p for d in CODE_DIRS for p in sorted((REPO_ROOT / d).rglob("*.py"))]
    # The service's deployment files (in its repository folder) are read by the run too;
    # gunicorn.conf.py is among the .py.
    repository = REPO_ROOT / "app_under_test"
    files += [repository / name for name in deployment.FILES if repository / name not in files]
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    for name in _LIBRARIES:
        digest.update(f"{name}=={metadata.version(name)}".encode())
    digest.update(f"format={FORMAT_VERSION}".encode())
    return digest.hexdigest()


def dataset_key(scenario: Scenario, seed: int, patch: bytes | None) -> str:
    digest = hashlib.sha256()
    digest.update(scenario.model_dump_json(include=set(SIMULATED_FIELDS)).encode())
    digest.update(f"seed={seed}".encode())
    digest.update(hashlib.sha256(patch or b"").digest())
    digest.update(hashlib.sha256(previous_release(scenario) or b"").digest())
    digest.update(code_hash().encode())
    return digest.hexdigest()[:20]


def dataset_path(scenario: Scenario, seed: int | None = None) -> Path:
    """Where the scenario's unpatched dataset (default seed unless given) is, or will be once generated."""
    return cache_root() / dataset_key(scenario, scenario.default_seed if seed is None else seed, None)


def is_cached(scenario: Scenario, seed: int | None = None) -> bool:
    """Whether the scenario's dataset (unpatched, default seed unless given) is ready to serve."""
    return (dataset_path(scenario, seed) / MANIFEST_NAME).is_file()


def cached_datasets() -> list[tuple[Path, dict]]:
    """Every complete dataset in the cache with its manifest, newest first."""
    root = cache_root()
    found = []
    for manifest in root.glob(f"*/{MANIFEST_NAME}"):
        try:
            found.append((manifest.parent, json.loads(manifest.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(found, key=lambda item: item[0].stat().st_mtime, reverse=True)


def prune() -> tuple[int, int]:
    """Remove the datasets other code built (no scenario's key can lead to them any more) and what
    killed runs left; returns (datasets, bytes)."""
    root = cache_root()
    if not root.exists():
        return 0, 0
    current = code_hash()
    removed = freed = 0
    for path, manifest in cached_datasets():
        if manifest.get("code_hash") != current:
            freed += directory_size(path)
            shutil.rmtree(path)
            removed += 1
    return removed, freed + remove_abandoned_stagings(root)


def clear() -> int:
    """Remove every cached dataset (and leftovers of interrupted runs); returns how many went."""
    root = cache_root()
    if not root.exists():
        return 0
    removed = 0
    for entry in root.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
            removed += 1
    return removed
