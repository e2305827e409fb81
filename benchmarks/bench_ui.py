"""Latency of the candidate platform on the largest founding dataset: every JSON API call, every page.

Usage: python benchmarks/bench_ui.py [--scenario cron-storm] [--rounds 5] [--no-browser]
       python benchmarks/bench_ui.py --candidates 30 [--workers 2] [--burst] (see many_candidates.py)

Serves the scenario's dataset (generated first if it is not cached) with ``obsim serve`` on
127.0.0.1, as a candidate gets it, then:

- calls every documented ``/api/`` endpoint ``rounds`` times, each round with a different time range
  for the endpoints that take one (the last 15 minutes, hour and 3 hours, and zoomed windows around
  the incident), so the figures are not one cached answer repeated; prints p50/p95/max per endpoint
  against the 200 ms target;
- opens every page in headless Chromium (when installed) and times it until its charts are drawn,
  against the 1 s target.

The first API call after start is reported separately: it reads the metrics into memory.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import many_candidates  # noqa: E402
from bench_generate import machine  # noqa: E402

from observability_ui import openapi  # noqa: E402
from obsim import scenario as scenarios  # noqa: E402
from obsim_cli.generate import generate  # noqa: E402

API_TARGET_MS = 200.0
PAGE_TARGET_MS = 1000.0
PROMQL = "sum by (http_route) (rate(http_server_request_duration_seconds_count[1m]))"
LOG_METRIC = 'sum by (level) (count_over_time({service="platform-api"} |= "timed out" [1m]))'
# LogQL stages run per line in Python: label extraction, a label filter, grouping by an extracted label.
LOG_PIPELINE = '{service="platform-api"} | json | http_response_status_code >= 500'
LOG_PIPELINE_METRIC = f"sum by (http_route) (count_over_time({LOG_PIPELINE} [1m]))"
QUANTILE = "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))"


def ranges(end: float, rounds: int) -> list[dict[str, str]]:
    """``rounds`` different ranges: relative ones, then 20-minute windows stepping back from the end."""
    relative = [{"from": "now-15m"}, {"from": "now-1h"}, {"from": "now-3h"}]
    zoomed = [
        {"from": str(end - 1200 * (i + 1) - 240), "to": str(end - 1200 * i - 240)} for i in range(rounds)
    ]
    return (relative + zoomed)[:rounds]


def api_calls(client: httpx.Client, window_end: float) -> dict[str, dict[str, str]]:
    """One example request per endpoint, more for a few (named ``path | what``; range parameters are
    added per round)."""
    trace = client.get("/api/traces", params={"limit": 1, "from": "now-1h"}).json()["traces"][0]["trace_id"]
    return {
        "/api/dataset": {},
        "/api/overview": {},
        "/api/metrics/names": {},
        "/api/metrics/labels": {"metric": "http_server_request_duration_seconds_bucket"},
        "/api/metrics/query_range": {"query": QUANTILE},
        "/api/metrics/query": {"query": PROMQL},
        "/api/logs": {"query": '{service="platform-api"} |= "timed out"'},
        "/api/logs/volume": {"query": '{level=~"error|warning"}'},
        "/api/logs/query_range": {"query": LOG_METRIC},
        "/api/logs | json": {"query": LOG_PIPELINE},
        "/api/logs/query_range | json": {"query": LOG_PIPELINE_METRIC},
        "/api/traces": {"min_duration": "2s", "limit": "50"},
        f"/api/traces/{trace}": {},
        "/api/database/sessions": {"state": "active"},
        "/api/database/history": {"by": "application"},
        "/api/jobs": {},
        "/api/jobs/runs": {},
        "/api/jobs/per_minute": {},
        "/api/code": {},
        "/api/code/file": {"path": "services/job_scheduler/scheduler.py"},
        "/api/code-search": {"q": "session"},
        "/api/openapi.json": {},
    }


def called_path(name: str) -> str:
    """The path a named call requests: its name up to `` | ``."""
    return name.split(" | ")[0]


def documented_path(name: str) -> str:
    """The OpenAPI document's path for a named call (a trace's id in its template)."""
    path = called_path(name)
    return "/api/traces/{trace_id}" if path.startswith("/api/traces/") else path


def with_range(path: str, params: dict[str, str], range_params: dict[str, str]) -> dict[str, str]:
    """The round's range added where the endpoint takes one: the API refuses parameters it does not."""
    if "from" not in openapi.query_parameters(documented_path(path)):
        return params
    return {**params, **range_params}


PAGES = {
    "overview": "/",
    "metrics": f"/metrics?query={QUANTILE}",
    "logs": '/logs?query={level="error"}',
    "traces": "/traces?min_duration=1s",
    "database": "/database",
    "jobs": "/jobs",
    "code": "/code/services/job_scheduler/scheduler.py",
}


@contextmanager
def serve(dataset: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "obsim_cli.main", "serve", str(dataset), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/dataset", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_api(base: str, rounds: int) -> bool:
    with httpx.Client(base_url=base, timeout=120) as client:
        started = time.perf_counter()
        client.get("/api/overview", params={"from": "now-3h"}).raise_for_status()
        print(
            f"first overview call after start (reads the metrics): {1000 * (time.perf_counter() - started):.0f} ms"
        )
        window_end = client.get("/api/dataset").json()["window"]["end"]
        calls = api_calls(client, window_end)
        timings: dict[str, list[float]] = {path: [] for path in calls}
        for range_params in ranges(window_end, rounds):
            for path, params in calls.items():
                started = time.perf_counter()
                response = client.get(called_path(path), params=with_range(path, params, range_params))
                timings[path].append(1000 * (time.perf_counter() - started))
                if response.status_code != 200:
                    raise SystemExit(
                        f"{path} {params} {range_params}: HTTP {response.status_code} {response.text[:200]}"
                    )
    print(f"\nJSON API, {rounds} rounds with different ranges (target p95 <= {API_TARGET_MS:.0f} ms)")
    print(f"{'endpoint':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    ok = True
    for path, values in timings.items():
        p95 = percentile(values, 0.95)
        ok &= p95 <= API_TARGET_MS
        name = path if " | " in path else documented_path(path)
        flag = "" if p95 <= API_TARGET_MS else "  over target"
        print(f"{name:32} {statistics.median(values):8.0f} {p95:8.0f} {max(values):8.0f}{flag}")
    return ok


def bench_pages(base: str, rounds: int) -> bool:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("\npages: skipped (needs Chromium and the playwright package)")
        return True
    print(
        f"\npages in headless Chromium, until every chart is drawn, {rounds} loads (target {PAGE_TARGET_MS:.0f} ms)"
    )
    print(f"{'page':12} {'p50 ms':>8} {'max ms':>8}")
    ok = True
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for name, path in PAGES.items():
            values = []
            for index in range(rounds):
                separator = "&" if "?" in path else "?"
                url = f"{base}{path}{separator}from=now-{[15, 60, 180][index % 3]}m"
                started = time.perf_counter()
                page.goto(url, wait_until="load")
                page.wait_for_function(
                    "Array.from(document.querySelectorAll('[data-figure]')).every(el => el._fullLayout)"
                )
                values.append(1000 * (time.perf_counter() - started))
            ok &= statistics.median(values) <= PAGE_TARGET_MS
            print(f"{name:12} {statistics.median(values):8.0f} {max(values):8.0f}")
        browser.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="cron-storm", help="the largest founding dataset by default")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    many = parser.add_argument_group("many candidates at once on an interview day (many_candidates.py)")
    many.add_argument("--candidates", type=int, help="this many candidates at once instead of the above")
    many.add_argument("--workers", type=int, default=1, help="the day server's processes")
    many.add_argument("--burst", action="store_true", help="no think time: actions back to back")
    many.add_argument("--duration", type=float, default=120.0, help="seconds of think-time mode")
    many.add_argument("--actions", type=int, default=20, help="actions per candidate in burst mode")
    many.add_argument("--scenarios", default=",".join(many_candidates.DEFAULT_SCENARIOS))
    args = parser.parse_args()
    if args.candidates:
        print(f"machine: {machine()}")
        wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
        met = many_candidates.run(
            args.candidates, args.workers, args.burst, args.duration, args.actions, wanted
        )
        print("\nall targets met" if met else "\nsome targets missed (see above)")
        return 0
    dataset = generate(scenarios.load(args.scenario), quiet=True).path
    print(f"machine: {machine()}")
    print(f"dataset: {args.scenario} ({sum(f.stat().st_size for f in dataset.iterdir()) / 1e6:.0f} MB)")
    with serve(dataset) as base:
        api_ok = bench_api(base, args.rounds)
        pages_ok = args.no_browser or bench_pages(base, args.rounds)
    print("\nall targets met" if api_ok and pages_ok else "\nsome targets missed (see above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
