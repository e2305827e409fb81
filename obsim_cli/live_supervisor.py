"""``obsim live``: start the live processes, wait for the run to end or Ctrl-C, stop them all.

Three processes on 127.0.0.1, each in a process group of its own so that stopping one takes its
threads and children with it: the external-service fakes, the application (``server``) and the
clients (``load``); with ``ui_port``, a fourth serves the candidate platform over the dataset the
application records (``ui``).  The run lasts the scenario's window divided by the time scale unless
``duration`` says otherwise; every process also has its own deadline and stops if this supervisor
disappears, so nothing outlives a run.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from live import DEFAULT_REDIS_URL, postgres_instance, redis_instance, rundir
from live.load_driver import DRAIN_S, SUMMARY, client_timeout_s
from live.process import HOST, stop_on_signals
from obsim.scenario import Scenario, previous_release
from obsim_cli import dataset_cache as cache

STARTUP_TIMEOUT_S = 180.0  # migrating and seeding the scenario's data
STOP_TIMEOUT_S = 45.0  # the application publishes its dataset before it exits
STOP_MARGIN_S = DRAIN_S + 5  # after the load's deadline, before everything is stopped
POLL_S = 0.2
RESIDENT_TTL_MARGIN_S = 3600.0  # seeded keys that expire outlive every deadline of the run


class LiveError(Exception):
    """Live mode could not start or a process failed."""


@dataclass(frozen=True)
class LiveOptions:
    scenario: Scenario
    db: str | None = None
    port: int = 8080
    pool_size: int = 200
    time_scale: float = 1.0
    otlp_endpoint: str | None = None
    duration: float | None = None
    load_scale: float = 1.0
    patch: Path | None = None
    out: Path | None = None
    ui_port: int | None = None
    redis_url: str = DEFAULT_REDIS_URL

    def run_seconds(self) -> float:
        return (
            self.duration if self.duration is not None else self.scenario.window.duration_s / self.time_scale
        )


@dataclass
class LiveRun:
    run_dir: Path
    db: str
    port: int
    load: dict[str, Any]
    dataset: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class _Process:
    """One child in its own process group, its output in ``<run_dir>/<name>.log``."""

    def __init__(self, name: str, command: list[str], run_dir: Path) -> None:
        self.name = name
        self.log = run_dir / f"{name}.log"
        with self.log.open("wb") as output:
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(cache.REPO_ROOT), os.environ.get("PYTHONPATH")])
                ),
            }
            self.popen = subprocess.Popen(
                command,
                cwd=cache.REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the group, wait, then SIGKILL what is left."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _run_dir(options: LiveOptions) -> Path:
    if options.out is not None:
        path = options.out
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = cache.cache_root().parent / "live" / f"{options.scenario.id}-{stamp}"
    path.mkdir(parents=True, exist_ok=True)
    if rundir.read_ready(path) is not None:
        raise LiveError(f"{path} holds an earlier live run; choose another --out")
    return path


def _wait_ready(server: _Process, port: int, run_dir: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise LiveError(
                f"the application exited during start-up (code {server.popen.returncode}):\n{server.tail()}"
            )
        ready = rundir.read_ready(run_dir)
        if ready is not None:
            try:
                if httpx.get(f"http://{HOST}:{port}/health", timeout=2).status_code == 200:
                    return ready
            except httpx.TransportError:
                pass
        time.sleep(POLL_S)
    raise LiveError(f"the application did not start within {STARTUP_TIMEOUT_S:.0f} s:\n{server.tail()}")


def _release_roots(options: LiveOptions, stack: ExitStack) -> list[str]:
    """Where the server imports the service's code from: a ``--patch``ed copy of the checkout, and
    for a scenario that deploys, a copy with the previous release's patch to start on (the deploy
    then ships the checkout's code, or the patched copy, as in the simulator)."""
    from world.release import PatchError, apply_patch

    def patched(patch: bytes) -> str:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="obsim-live-app-")))
        try:
            return str(apply_patch(patch, workdir))
        except PatchError as error:
            raise LiveError(str(error)) from error

    roots = []
    if options.patch is not None:
        roots += ["--app-root", patched(options.patch.read_bytes())]
    previous = previous_release(options.scenario)
    if previous is not None:
        roots += ["--previous-app-root", patched(previous)]
    return roots


def _claim_redis(url: str) -> None:
    try:
        redis_instance.claim(url)
    except redis_instance.RedisSetupError as error:
        raise LiveError(str(error)) from error


def _seed_redis(url: str, run_left_s: float) -> int:
    """The other clients' keys of the shared instance, expiring ones outliving the run."""
    from world.redis_keyspace import REDIS_RESIDENT_KEYS

    return redis_instance.seed(url, REDIS_RESIDENT_KEYS, math.ceil(run_left_s + RESIDENT_TTL_MARGIN_S))


def _release_redis(url: str, announce: Callable[[str], None]) -> None:
    """Flush the index live mode claimed empty, whichever way the run ended."""
    try:
        redis_instance.flush(url)
    except Exception as error:  # the run's outcome matters more; say what is left behind
        announce(f"warning    could not flush {url} ({error}); flush it yourself")


def run_live(options: LiveOptions, announce: Callable[[str], None] = print) -> LiveRun:
    """Run the scenario live until its (scaled) window ends or Ctrl-C; returns where everything is."""
    if options.time_scale <= 0 or options.pool_size < 1 or options.load_scale <= 0:
        raise LiveError("--time-scale and --load-scale must be positive, --pool-size at least 1")
    run_dir = _run_dir(options)
    db = options.db or f"sqlite:///{run_dir / 'app.sqlite'}"
    if postgres_instance.is_postgres(db):
        try:
            # During a deploy the old release's pool drains while the new one fills.
            postgres_instance.check_capacity(db, options.pool_size * (2 if options.scenario.deploy else 1))
        except postgres_instance.CapacityError as error:
            raise LiveError(str(error)) from error
    redis_url = options.redis_url if redis_instance.uses_redis(options.scenario) else None
    scenario_file = str(options.scenario.source)
    services_port = free_port()
    seconds = options.run_seconds()
    python = [sys.executable, "-m"]
    stop_on_signals()
    processes: list[_Process] = []
    load_summary: dict[str, Any] = {}
    deadline = str(time.time() + STARTUP_TIMEOUT_S + seconds + client_timeout_s() + 60)
    with ExitStack() as stack:
        if redis_url is not None:
            _claim_redis(redis_url)
            stack.callback(_release_redis, redis_url, announce)
        server_command = [
            *python, "live.server", "--scenario-file", scenario_file, "--run-dir", str(run_dir),
            "--port", str(options.port), "--services-port", str(services_port), "--db", db,
            "--pool-size", str(options.pool_size), "--time-scale", str(options.time_scale),
            "--deadline", deadline, "--run-seconds", str(seconds + STOP_MARGIN_S),
        ]  # fmt: skip
        if options.otlp_endpoint:
            server_command += ["--otlp-endpoint", options.otlp_endpoint]
        server_command += _release_roots(options, stack)
        if redis_url is not None:
            server_command += ["--redis-url", redis_url]
        try:
            if redis_url is not None:
                announce(f"seeding    {redis_url}: the shared instance's resident keys ...")
                keys = _seed_redis(redis_url, float(deadline) - time.time())
                announce(f"redis      {redis_url}: {keys:,} keys, flushed when the run ends")
            services = _Process(
                "services",
                [*python, "live.fake_services", "--scenario-file", scenario_file, "--run-dir", str(run_dir),
                 "--port", str(services_port), "--deadline", deadline],
                run_dir,
            )  # fmt: skip
            processes.append(services)
            server = _Process("server", server_command, run_dir)
            processes.append(server)
            announce(f"live run   {run_dir}  (logs: services.log, server.log, load.log)")
            announce(f"starting   {options.scenario.id}: seeding {db.split('@')[-1]} ...")
            ready = _wait_ready(server, options.port, run_dir)
            end = rundir.timeline_of(ready).real_start + seconds
            load = _Process(
                "load",
                [*python, "live.load_driver", "--scenario-file", scenario_file, "--run-dir", str(run_dir),
                 "--deadline", str(end), "--load-scale", str(options.load_scale)],
                run_dir,
            )  # fmt: skip
            processes.append(load)
            announce(
                f"service    http://{HOST}:{options.port}/  metrics http://{HOST}:{options.port}/metrics"
            )
            watched = [services, server]
            if options.ui_port is not None:
                ui = _Process(
                    "ui",
                    [*python, "obsim_cli.live_ui", "--dataset", str(run_dir / "dataset"),
                     "--port", str(options.ui_port), "--deadline", deadline],
                    run_dir,
                )  # fmt: skip
                processes.append(ui)
                watched.append(ui)
                announce(f"platform   http://{HOST}:{options.ui_port}/  (the candidate UI, live; ui.log)")
            announce(
                f"timeline   x{options.time_scale:g}: the scenario's {options.scenario.window.duration_s / 60:.0f} min "
                f"in {seconds:.0f} s; stop with Ctrl-C"
            )
            while time.time() < end + STOP_MARGIN_S and load.alive():
                for process in watched:
                    if not process.alive():
                        raise LiveError(
                            f"{process.name} exited (code {process.popen.returncode}):\n{process.tail()}"
                        )
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            announce("stopping ...")
        finally:
            for process in reversed(processes):
                process.stop()
        summary_file = run_dir / SUMMARY
        if summary_file.exists():
            load_summary = json.loads(summary_file.read_text())
    return LiveRun(run_dir, db, options.port, load_summary, run_dir / "dataset")
