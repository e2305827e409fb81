"""Generate a scenario's dataset: reuse the cache, or run the simulation in a worker process.

``--patch`` runs against a copy of the application with the unified diff applied (``git apply``),
so the checkout itself is never modified.  The dataset is published only when the run completes
and, for an unpatched run, only once it passed the scenario's readiness assertions: the worker
checks them before it publishes, and it dies with this process, so nothing unchecked ever appears.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from obsim.dataset.schema import MANIFEST_NAME
from obsim.scenario import Scenario
from obsim_cli import dataset_cache as cache
from obsim_cli.generation_worker import REFUSED
from world.release import PatchError, apply_patch

GENERATOR_VERSION = "0.1.0"


class GenerationError(Exception):
    """A generation run could not be started or did not finish."""


@dataclass(frozen=True)
class Generated:
    path: Path
    cached: bool
    manifest: dict


def generate(
    scenario: Scenario,
    seed: int | None = None,
    patch_file: Path | None = None,
    out: Path | None = None,
    use_cache: bool = True,
    quiet: bool = False,
    progress: Callable[[float], None] | None = None,
) -> Generated:
    """The scenario's dataset, from the cache or a new run; ``progress`` is told the share of the
    window simulated so far as the worker reports it (a server shows it while it waits)."""
    seed = scenario.default_seed if seed is None else seed
    scenario_file = scenario.source
    patch = Path(patch_file).read_bytes() if patch_file is not None else None
    key = cache.dataset_key(scenario, seed, patch)
    target = Path(out) if out is not None else cache.cache_root() / key
    if use_cache and (target / MANIFEST_NAME).exists():
        manifest = json.loads((target / MANIFEST_NAME).read_text())
        if manifest.get("cache_key") == key:
            return Generated(target, True, manifest)
    manifest = {
        "scenario": scenario.id,
        "scenario_version": scenario.version,
        "seed": seed,
        "window_start": scenario.window.start.timestamp(),
        "window_end": scenario.window.end.timestamp(),
        "patch_sha256": hashlib.sha256(patch).hexdigest() if patch else None,
        "code_hash": cache.code_hash(),
        "cache_key": key,
        "generator_version": GENERATOR_VERSION,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="obsim-app-") as workdir:
        command = [
            sys.executable,
            "-m",
            "obsim_cli.generation_worker",
            "--scenario-file",
            str(scenario_file),
            "--seed",
            str(seed),
            "--out",
            str(target),
            "--manifest",
            json.dumps(manifest),
            "--parent-pid",
            str(os.getpid()),
        ]
        if patch is not None:
            command += ["--app-root", str(_patched(patch, Path(workdir)))]
        if quiet:
            command.append("--quiet")
        if patch is None:  # a proposed fix is run to see whether the symptoms go: no promise to check
            command.append("--check-readiness")
        returncode, last = _run_worker(command, progress)
    if returncode == REFUSED:
        raise GenerationError(json.loads(last)["refused"])
    if returncode != 0:
        raise GenerationError(
            f"generation of {scenario.id!r} (seed {seed}) failed with exit code {returncode}"
        )
    return Generated(target, False, json.loads((target / MANIFEST_NAME).read_text()))


def _run_worker(command: list[str], progress: Callable[[float], None] | None) -> tuple[int, str]:
    """Run the worker to its end, handing its progress lines to ``progress`` as they come; returns
    its exit code and its last other line (the counts, or why the run was refused)."""
    last = ""
    with subprocess.Popen(command, cwd=cache.REPO_ROOT, stdout=subprocess.PIPE, text=True) as worker:
        assert worker.stdout is not None
        for line in worker.stdout:
            if line.startswith('{"progress": '):
                if progress is not None:
                    progress(json.loads(line)["progress"])
            elif line.strip():
                last = line
    return worker.returncode, last


@dataclass(frozen=True)
class Outcome:
    """One scenario's part in :func:`generate_each`: its dataset, or why there is none."""

    scenario: Scenario
    generated: Generated | None
    error: GenerationError | None
    seconds: float


def generate_each(scenarios: Sequence[Scenario], jobs: int, use_cache: bool = True) -> Iterator[Outcome]:
    """Generate several scenarios' datasets (each at its default seed), ``jobs`` at a time, and yield
    each outcome as it finishes.

    This is how an interviewer prepares ahead: a cold run takes minutes, a cached launch under a
    second.  Each run is its own worker process and a simulation is one thread, so runs side by
    side use the machine's cores; one run failing does not stop the others.
    """

    def timed(scenario: Scenario) -> Outcome:
        started = time.monotonic()
        try:
            generated = generate(scenario, use_cache=use_cache, quiet=True)
        except GenerationError as error:
            return Outcome(scenario, None, error, time.monotonic() - started)
        return Outcome(scenario, generated, None, time.monotonic() - started)

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in as_completed([pool.submit(timed, scenario) for scenario in scenarios]):
            yield future.result()
    finally:  # interrupted (Ctrl-C reaches the running workers too): start no more runs
        pool.shutdown(wait=True, cancel_futures=True)


def _patched(patch: bytes, workdir: Path) -> Path:
    """The release ``patch`` makes, or the generation's refusal when it does not apply."""
    try:
        return apply_patch(patch, workdir)
    except PatchError as error:
        raise GenerationError(str(error)) from error


class CachedGeneration:
    """An interview server's :class:`observability_ui.day.Generation`: datasets in the cache,
    generated in a subprocess, quietly (the console shows the progress)."""

    def dataset_path(self, scenario: Scenario, seed: int | None) -> Path:
        return cache.dataset_path(scenario, seed)

    def generate(self, scenario: Scenario, seed: int | None, progress: Callable[[float], None]) -> Generated:
        return generate(scenario, seed=seed, quiet=True, progress=progress)
