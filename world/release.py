"""Releases of the service's code: import one from a directory, and switch to another mid-run.

A deploy in production starts new processes on new code, and nothing of the old processes' memory
survives: not their metric registry, caches, pool, nor the scheduler's job objects.  The simulation
runs the service inside its own process, so a deploy forgets every module of the running release
(``sys.modules``) and imports ``platform_api`` again from the new release's directory.  Code still
running on the old release (requests in flight, job runs) keeps its own module objects until it
finishes, as a gracefully stopped worker finishes its requests.

:class:`ServiceCode` gathers the modules the service host wires into its world, so that every
release is wired the same way, in either engine (:mod:`world.service_host`); the deploy pipeline's
log lines and letting the old release's pool go are here, so a deploy reads the same in either
dataset.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from obsim.scenario import Deploy

PACKAGE = "platform_api"
REPOSITORY_FOLDER = "app_under_test"  # the service's repository in this checkout, as patches name it
CHECKOUT = Path(__file__).resolve().parent.parent / REPOSITORY_FOLDER  # the code candidates read


class PatchError(Exception):
    """A patch that does not apply to the installed release."""


@dataclass(frozen=True)
class ServiceCode:
    """One release's modules, as the simulation uses them."""

    root: Path  # the service's repository: the directory that holds the package
    package: ModuleType
    seed: ModuleType
    app: ModuleType  # platform_api.api.app: create_app
    plumbing: ModuleType  # platform_api.lib.plumbing: the process's clock, executors, transports
    config: ModuleType
    metrics: ModuleType
    tracing: ModuleType
    logging: ModuleType
    migrations: ModuleType
    database: ModuleType  # platform_api.lib.database.client: the ``db`` singleton
    pool: ModuleType  # platform_api.lib.database.pool: ObservedQueuePool
    scheduler: ModuleType  # platform_api.services.job_scheduler: create_scheduler, scheduler_options

    @property
    def path_prefix(self) -> str:
        """The directory prefix of the code's files, as stack traces show them."""
        return str(self.root.resolve()) + "/"


def installed_root() -> Path:
    """The directory the package is imported from now (the checkout, or a patched copy first on
    ``sys.path``), without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"{PACKAGE} is not importable")
    return Path(spec.origin).resolve().parent.parent


def apply_patch(patch: bytes, workdir: Path) -> Path:
    """Copy the checkout's service repository into ``workdir`` and apply ``patch`` (a diff against
    the checkout, naming the repository's folder ``app_under_test/``) to the copy: the release the
    patch makes, whose repository this returns for :func:`load` to import.  Always the checkout,
    even in a run of a patched copy: a scenario's previous release is a diff from the code
    candidates read, whatever fix is being verified on top of it."""
    shutil.copytree(
        CHECKOUT,
        workdir / REPOSITORY_FOLDER,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    patch_file = workdir / "change.patch"
    patch_file.write_bytes(patch)
    for check in (["--check"], []):
        result = subprocess.run(
            ["git", "apply", *check, "-p1", str(patch_file)], cwd=workdir, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise PatchError(f"the patch does not apply to {REPOSITORY_FOLDER}:\n{result.stderr.strip()}")
    return workdir / REPOSITORY_FOLDER


def load(root: Path) -> ServiceCode:
    """Import the service's code from ``root``, forgetting whatever release was imported before."""
    root = root.resolve()
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()

    def module(name: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.{name}")

    package = importlib.import_module(PACKAGE)
    origin = Path(package.__file__ or "").resolve()
    if not origin.is_relative_to(root):
        raise ImportError(f"{PACKAGE} was imported from {origin}, not from {root}")
    return ServiceCode(
        root=root,
        package=package,
        seed=module("seed"),
        app=module("api.app"),
        plumbing=module("lib.plumbing"),
        config=module("lib.config"),
        metrics=module("lib.metrics"),
        tracing=module("lib.tracing"),
        logging=module("lib.logging"),
        migrations=module("lib.database.migrations"),
        database=module("lib.database.client"),
        pool=module("lib.database.pool"),
        scheduler=module("services.job_scheduler"),
    )


def dispose_silently(db: Any) -> None:
    """Let a gone process's engine go: a killed or exited process logs nothing more, so its pool's
    dispose records are not the service's."""
    logging.disable(logging.CRITICAL)
    try:
        db.dispose()
    finally:
        logging.disable(logging.NOTSET)


def deploy_started(deploy: Deploy) -> dict[str, Any]:
    """The pipeline's line when it starts shipping ``deploy``."""
    return _pipeline_log(f"deploy started: platform-api {deploy.from_version} -> {deploy.to_version}")


def deploy_finished(deploy: Deploy, host: str) -> dict[str, Any]:
    """The pipeline's line once the old release on ``host`` has stopped."""
    return _pipeline_log(f"deploy finished: platform-api {deploy.to_version} on {host}")


def _pipeline_log(message: str) -> dict[str, Any]:
    """A line of the deploy pipeline's log, which ships to the same log store as the service's."""
    return {
        "service": "deploy-pipeline",
        "host": "ci-runner-2",
        "level": "info",
        "logger": "deploy",
        "message": message,
    }
