"""Process entry point for one generation run: ``python -m simulator.worker ...``.

Runs in a process of its own so the application's process-wide state starts fresh.  With
``--app-root`` the application is imported from that directory (a patched copy) instead of the
checkout.  Prints a progress bar on stderr and the run's counts as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simulator.worker")
    parser.add_argument("--scenario-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--manifest", required=True, help="JSON object recorded in the dataset manifest")
    parser.add_argument("--app-root", type=Path, help="directory holding the app_under_test package to run")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.app_root is not None:
        sys.path.insert(0, str(args.app_root.resolve()))

    from tqdm import tqdm

    from obsim.scenario import load_file
    from simulator.run import simulate

    if args.app_root is not None:
        import app_under_test

        if not Path(app_under_test.__file__).resolve().is_relative_to(args.app_root.resolve()):
            parser.error(
                f"app_under_test was imported from {app_under_test.__file__}, not from {args.app_root}"
            )

    scenario = load_file(args.scenario_file)
    with tqdm(
        total=100,
        desc=f"simulating {scenario.window.duration_s / 3600:.1f} h",
        unit="%",
        disable=args.quiet,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left",
    ) as bar:

        def progress(fraction: float) -> None:
            bar.update(round(fraction * 100) - bar.n)

        try:
            counts = simulate(scenario, args.seed, args.out, json.loads(args.manifest), progress)
        except KeyboardInterrupt:
            print("simulation interrupted: nothing was published", file=sys.stderr)
            return 130
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
