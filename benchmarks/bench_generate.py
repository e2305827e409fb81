"""Generation speed and memory per scenario: simulated requests per wall-second, wall time, peak RSS.

Usage: python benchmarks/bench_generate.py [--repeat N] [SCENARIO ...]

Each run is a cold generation (no cache) in a fresh worker process, as `obsim generate --no-cache`
does.  Peak RSS is the worker's (the parent only waits).  Figures are medians over the repeats.
``cpu s`` is the worker's user + system CPU time: on a machine shared with other work it is the
steadier figure, since wall time also counts the time the worker waited for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from obsim import scenario as scenarios  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def run_once(scenario_id: str) -> dict[str, float]:
    loaded = scenarios.load(scenario_id)
    with tempfile.TemporaryDirectory(prefix="obsim-bench-") as tmp:
        out = Path(tmp) / "dataset"
        command = [
            sys.executable,
            "-m",
            "obsim_cli.generation_worker",
            "--scenario-file",
            str(loaded.source),
            "--seed",
            str(loaded.default_seed),
            "--out",
            str(out),
            "--manifest",
            "{}",
            "--quiet",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        stdout, _ = process.communicate()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0:
            raise SystemExit(f"{scenario_id}: generation failed")
        counts = json.loads(stdout.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "requests": counts["requests"],
        "requests_per_s": counts["requests"] / wall,
        "peak_rss_mb": peak_rss_mb,
        "dataset_mb": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=scenarios.available())
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"{'scenario':<18}{'requests':>10}{'req/s':>9}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}"
        f"{'dataset MB':>12}"
    )
    for scenario_id in args.scenarios:
        runs = [run_once(scenario_id) for _ in range(args.repeat)]
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"{scenario_id:<18}{med['requests']:>10.0f}{med['requests_per_s']:>9.0f}{med['wall_s']:>9.1f}"
            f"{med['cpu_s']:>9.1f}{med['peak_rss_mb']:>13.0f}{med['dataset_mb']:>12.1f}"
        )
    print("peak RSS is the largest worker process seen so far in this benchmark run (RUSAGE_CHILDREN)")


if __name__ == "__main__":
    main()
