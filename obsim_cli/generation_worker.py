"""Process entry point for one generation run: ``python -m obsim_cli.generation_worker ...``.

Runs in a process of its own so the application's process-wide state starts fresh.  With
``--app-root`` the application is imported from that directory (a patched copy) instead of the
checkout.  Prints a progress bar on stderr and, on stdout, the share of the window simulated as
``{"progress": 0.42}`` lines (each whole percent once: what a server shows while it waits) and last
the run's counts as JSON.

The worker never outlives the process that started it: a run nobody waits for would otherwise go
on for minutes and publish a dataset no one checked.  With ``--check-readiness`` the finished
dataset is published only if it shows what the scenario promises; otherwise the worker prints why
(``{"refused": ...}`` on stdout) and exits with :data:`REFUSED`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

REFUSED = 3  # exit code: the run finished but its dataset failed the readiness check
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class NotReady(Exception):
    """The finished dataset does not meet the scenario's readiness assertions."""


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends, however it ends (SIGKILL included).

    Linux delivers a signal on the parent's death (``PR_SET_PDEATHSIG``); elsewhere a watchdog
    thread notices that the process was re-parented.  Either way a parent already gone before the
    watch began is caught by comparing the parent's id.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="obsim_cli.generation_worker")
    parser.add_argument("--scenario-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--manifest", required=True, help="JSON object recorded in the dataset manifest")
    parser.add_argument(
        "--app-root", type=Path, help="the service's repository to run (a patched copy of app_under_test/)"
    )
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--parent-pid", type=int, help="end the run when this process ends")
    parser.add_argument(
        "--check-readiness",
        action="store_true",
        help="publish only a dataset that meets the readiness checks",
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    if args.app_root is not None:
        sys.path.insert(0, str(args.app_root.resolve()))

    from tqdm import tqdm

    from obsim.scenario import load_file
    from obsim.symptom_figures import compute, readiness_failures
    from simulator.run import simulate

    if args.app_root is not None:
        import platform_api

        if not Path(platform_api.__file__).resolve().is_relative_to(args.app_root.resolve()):
            parser.error(f"platform_api was imported from {platform_api.__file__}, not from {args.app_root}")

    scenario = load_file(args.scenario_file)

    def check_readiness(db: sqlite3.Connection) -> None:
        failures = readiness_failures(scenario.readiness, compute(db))
        if failures:
            raise NotReady(
                f"the generated dataset does not meet {scenario.id!r}'s readiness assertions: "
                + "; ".join(failures)
            )

    with tqdm(
        total=100,
        desc=f"simulating {scenario.window.duration_s / 3600:.1f} h",
        unit="%",
        disable=args.quiet,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left",
    ) as bar:
        reported = -1  # the whole percent last printed

        def progress(fraction: float) -> None:
            nonlocal reported
            percent = round(fraction * 100)
            if percent != reported:
                reported = percent
                print(json.dumps({"progress": percent / 100}), flush=True)
                bar.update(percent - bar.n)

        try:
            counts = simulate(
                scenario,
                args.seed,
                args.out,
                json.loads(args.manifest),
                progress,
                check_readiness if args.check_readiness else None,
            )
        except KeyboardInterrupt:
            print("simulation interrupted: nothing was published", file=sys.stderr)
            return 130
        except NotReady as refusal:
            print(json.dumps({"refused": str(refusal)}))
            return REFUSED
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
