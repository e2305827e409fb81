"""Many candidates at once on one interview-day server: ``bench_ui.py --candidates N``.

Serves the day as a hiring team would (``obsim run`` without a scenario, ``--workers W``, over a
fresh SQLite interviews database), creates one session per candidate round-robin over the
scenarios whose dataset is ready (starting each clock as the interviewer would), and has every
candidate join by their link and investigate at once, each on a thread with their own cookies:

- **think** (default): a human's pace, 2-5 s between actions (``--think``), for ``--duration``
  seconds, then a submission;
- **burst** (``--burst``): the same actions back to back, no think time, ``--actions`` each.

Each action is one request of a realistic mix of pages and JSON calls (weights in :data:`MIX`): the
overview, PromQL, logs, traces, a trace, database sessions, jobs, code, notes, the clock, over a
time range drawn per action from the recording (so answers are not one cached result), and a
submission at the end.  Prints p50/p95/max and errors per endpoint, against the 300 ms p95 target,
and the server's memory (RSS and PSS of its processes, sampled every second) at its peak.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from interview.store import InterviewStore
from observability_ui.day import Day
from obsim import scenario as scenarios
from obsim_cli.generate import CachedGeneration

REPO = Path(__file__).resolve().parent.parent
P95_TARGET_MS = 300.0
DEFAULT_SCENARIOS = ("connection-leak", "cron-storm", "redis-keys-scan")
PROMQL = "sum by (http_route) (rate(http_server_request_duration_seconds_count[1m]))"
QUANTILE = "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))"
POOL = "sum by (db_client_connection_state) (db_client_connection_count)"
CODE_FILE = "lib/database/transactions.py"


@dataclass
class Candidate:
    """One candidate's browser: their cookies, their recording's window, what they saw."""

    client: httpx.Client
    rng: random.Random
    window: tuple[float, float] = (0.0, 0.0)
    traces: list[str] = field(default_factory=list)

    def range(self) -> dict[str, str]:
        """A range a person would pick: a preset, or a 20-minute window somewhere in the recording."""
        choice = self.rng.random()
        if choice < 0.5:
            return {"from": self.rng.choice(["now-15m", "now-1h", "now-3h"])}
        start, end = self.window
        at = self.rng.uniform(start, max(start, end - 1200))
        return {"from": f"{at:.0f}", "to": f"{at + 1200:.0f}"}


#: (label, weight, the request): ``request`` returns method, path, query parameters, JSON body
Request = tuple[str, str, dict[str, str], dict[str, object] | None]
MIX: list[tuple[str, float, Callable[[Candidate], Request | None]]] = [
    ("page /", 3, lambda c: ("GET", "/", c.range(), None)),
    ("api /api/overview", 1, lambda c: ("GET", "/api/overview", c.range(), None)),
    ("page /metrics", 2, lambda c: ("GET", "/metrics", {"query": QUANTILE, **c.range()}, None)),
    (
        "api /api/metrics/query_range",
        3,
        lambda c: (
            "GET",
            "/api/metrics/query_range",
            {"query": c.rng.choice([PROMQL, POOL]), **c.range()},
            None,
        ),
    ),
    ("api /api/metrics/query", 1, lambda c: ("GET", "/api/metrics/query", {"query": POOL}, None)),
    ("page /logs", 2, lambda c: ("GET", "/logs", {"query": '{level="error"}', **c.range()}, None)),
    (
        "api /api/logs",
        2,
        lambda c: ("GET", "/api/logs", {"query": '{level=~"error|warning"}', **c.range()}, None),
    ),
    ("api /api/logs/volume", 1, lambda c: ("GET", "/api/logs/volume", c.range(), None)),
    ("page /traces", 2, lambda c: ("GET", "/traces", {"min_duration": "1s", **c.range()}, None)),
    ("api /api/traces", 1, lambda c: ("GET", "/api/traces", {"limit": "20", **c.range()}, None)),
    (
        "page /traces/{id}",
        1,
        lambda c: ("GET", f"/traces/{c.rng.choice(c.traces)}", {}, None) if c.traces else None,
    ),
    ("page /database", 1, lambda c: ("GET", "/database", c.range(), None)),
    ("api /api/database/sessions", 1, lambda c: ("GET", "/api/database/sessions", {"state": "active"}, None)),
    ("page /jobs", 1, lambda c: ("GET", "/jobs", c.range(), None)),
    ("page /code/{file}", 1, lambda c: ("GET", f"/code/{CODE_FILE}", {}, None)),
    ("api /api/code-search", 1, lambda c: ("GET", "/api/code-search", {"q": "session"}, None)),
    (
        "api PUT /api/notes",
        1,
        lambda c: (
            "PUT",
            "/api/notes",
            {},
            {"text": f"note {c.rng.random():.6f}: pool, errors at the hour?"},
        ),
    ),
    ("api /api/interview", 1, lambda c: ("GET", "/api/interview", {}, None)),
    ("page /submit", 0.5, lambda c: ("GET", "/submit", {}, None)),
]
SUBMISSION = {
    "root_cause": "Connections are not returned to the pool on an error path.",
    "locations": [CODE_FILE],
    "causal_chain": ["a connection is kept", "the pool empties", "requests time out"],
    "evidence_views": ["metrics", "database"],
    "confidence": 0.6,
}


@dataclass
class Results:
    """Latencies (ms) and errors per endpoint, from every candidate's thread."""

    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def time(self, label: str, candidate: Candidate, request: Request) -> httpx.Response | None:
        method, path, params, body = request
        started = time.perf_counter()
        try:
            response = candidate.client.request(method, path, params=params, json=body)
        except httpx.HTTPError as error:
            response, problem = None, f"{type(error).__name__}: {error}"
        else:
            problem = (
                None if response.status_code < 400 else f"HTTP {response.status_code} {response.text[:160]}"
            )
        elapsed = 1000 * (time.perf_counter() - started)
        with self.lock:
            self.timings[label].append(elapsed)
            if problem is not None:
                self.errors[label].append(f"{path} {params}: {problem}")
        return response


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def day_server(workers: int, database: str) -> Iterator[tuple[str, int]]:
    """``obsim run`` (the day) on a free port with ``workers`` processes; yields its URL and pid."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="obsim-day-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "obsim_cli.main",
            "run",
            "--port",
            str(port),
            "--db",
            database,
            "--workers",
            str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/interviewer/", timeout=5).status_code == 403:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the day server did not start: see {log.name}")
            time.sleep(0.3)
        yield base, process.pid
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def cpu_seconds(root: int) -> float:
    """CPU time (user and system) ``root`` and its descendants have used: what the server spent,
    whatever else the machine runs."""
    total = 0.0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _tree(root: int) -> set[int]:
    """``root`` and every process under it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return tree


def memory_of(root: int) -> tuple[float, float]:
    """RSS and PSS (MB) of ``root`` and its descendants: PSS splits pages the gunicorn workers share
    with their master, so it sums to what the server really holds."""
    rss = pss = 0.0
    for pid in _tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return rss, pss


class MemoryWatch(threading.Thread):
    """The server's memory every second; its peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, (0.0, 0.0), threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            rss, pss = memory_of(self.pid)
            self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))


def preloaded(pid: int, timeout: float = 120.0) -> float:
    """Wait until every process of the server has read its datasets' metrics (each worker preloads
    them at start): its memory still for 3 s.  Interviews start on a server up for a while."""
    started = time.monotonic()
    last, still_since = memory_of(pid)[0], time.monotonic()
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = memory_of(pid)[0]
        if abs(now - last) > 2:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 3:
            break
    return time.monotonic() - started


def sessions(database: str, ready: list[str], count: int) -> list[tuple[str, str]]:
    """``count`` started sessions round-robin over ``ready``: (scenario id, the candidate's join path)."""
    store = InterviewStore(database)
    made = []
    for index in range(count):
        incident = scenarios.load(ready[index % len(ready)])
        session_id, token = store.create_session(
            f"candidate {index:02d}", incident.id, incident.default_seed, incident.time_limit_minutes * 60.0
        )
        store.start(session_id)
        made.append((incident.id, f"/join/{token}"))
    return made


def investigate(
    base: str, join: str, seed: int, results: Results, think: tuple[float, float], until: float, actions: int
) -> None:
    """One candidate: join, then actions from the mix (a think time apart) and a submission."""
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=120) as client:
        candidate = Candidate(client, rng)
        results.time("page POST /join/{token}", candidate, ("POST", join, {}, None))
        described = results.time("api /api/dataset", candidate, ("GET", "/api/dataset", {}, None))
        if described is None or described.status_code != 200:
            return
        window = described.json()["window"]
        candidate.window = (window["start"], window["end"])
        labels, weights = [m[0] for m in MIX], [m[1] for m in MIX]
        done = 0
        while done < actions and time.monotonic() < until:
            time.sleep(rng.uniform(*think))
            label = rng.choices(labels, weights)[0]
            request = next(make for name, _, make in MIX if name == label)(candidate)
            if request is None:
                continue
            response = results.time(label, candidate, request)
            done += 1
            if label == "api /api/traces" and response is not None and response.status_code == 200:
                candidate.traces = [t["trace_id"] for t in response.json()["traces"]][:10]
        results.time("api POST /api/submissions", candidate, ("POST", "/api/submissions", {}, SUBMISSION))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(candidates: int, workers: int, burst: bool, duration: float, actions: int, wanted: list[str]) -> bool:
    """The whole benchmark; True when every target is met."""
    day = Day([scenarios.load(name) for name in wanted], CachedGeneration())
    ready = [name for name in wanted if day.dataset(name) is not None]
    if not ready:
        raise SystemExit(f"none of {', '.join(wanted)} is ready: `obsim generate` them first")
    missing = sorted(set(wanted) - set(ready))
    mode = "burst (no think time)" if burst else "think time 2-5 s"
    print(f"{candidates} candidates on {', '.join(ready)}, {mode}, --workers {workers}")
    print("  load average at the start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    if missing:
        print(f"  not ready, left out: {', '.join(missing)}")
    catalog = Day(scenarios.load_all(), CachedGeneration())
    served = [name for name in catalog.scenarios if catalog.dataset(name) is not None]
    print(
        f"  the server serves every scenario ready: {len(served)} of the catalog's {len(catalog.scenarios)}"
        f" ({', '.join(served)})"
    )
    with tempfile.TemporaryDirectory(prefix="obsim-bench-day-") as tmp:
        database = f"sqlite:///{Path(tmp) / 'interviews.sqlite'}"
        InterviewStore(database).interviewer_token()  # as the launch would: tables and the secret first
        with day_server(workers, database) as (base, pid):
            made = sessions(database, ready, candidates)
            settled = preloaded(pid)
            print(f"  the server's metric preload settled {settled:.0f} s after it answered")
            watch = MemoryWatch(pid)
            watch.start()
            idle_rss, idle_pss = memory_of(pid)
            results = Results()
            think = (0.0, 0.0) if burst else (2.0, 5.0)
            until = time.monotonic() + (1e9 if burst else duration)
            per_candidate = actions if burst else 10**9
            started, cpu_before, mine_before = time.monotonic(), cpu_seconds(pid), _own_cpu()
            threads = [
                threading.Thread(
                    target=investigate, args=(base, join, index, results, think, until, per_candidate)
                )
                for index, (_, join) in enumerate(made)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            cpu, mine = cpu_seconds(pid) - cpu_before, _own_cpu() - mine_before
            watch.stopped.set()
            end_rss, end_pss = memory_of(pid)
    met = report(results, wall, (idle_rss, idle_pss), watch.peak, (end_rss, end_pss), burst)
    answered = sum(len(values) for values in results.timings.values())
    print(
        f"server CPU: {cpu:.0f} s over the {wall:.0f} s run ({100 * cpu / wall:.0f} % of one core),"
        f" {1000 * cpu / max(answered, 1):.0f} ms per request; the candidates' client (this process)"
        f" {mine:.0f} s ({100 * mine / wall:.0f} % of one core)"
    )
    return met


def _own_cpu() -> float:
    """CPU time this process (the candidates' threads) has used: its work is in every latency."""
    times = os.times()
    return times.user + times.system


def report(
    results: Results,
    wall: float,
    idle: tuple[float, float],
    peak: tuple[float, float],
    end: tuple[float, float],
    burst: bool,
) -> bool:
    total = sum(len(values) for values in results.timings.values())
    errors = sum(len(found) for found in results.errors.values())
    print(f"{total} requests in {wall:.0f} s ({total / wall:.1f}/s), {errors} errors")
    print(f"{'endpoint':32} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}")
    slow = []
    for label in sorted(results.timings):
        values = results.timings[label]
        p95 = percentile(values, 0.95)
        if p95 > P95_TARGET_MS:
            slow.append(label)
        print(
            f"{label:32} {len(values):5} {statistics.median(values):8.0f} {p95:8.0f} {max(values):8.0f}"
            f" {len(results.errors.get(label, [])):6}"
        )
    everything = [value for values in results.timings.values() for value in values]
    print(f"{'all':32} {total:5} {statistics.median(everything):8.0f} {percentile(everything, 0.95):8.0f}")
    for label, found in results.errors.items():
        for problem in found[:3]:
            print(f"  error {label}: {problem}")
    print(
        f"server memory (all its processes): idle, metrics preloaded, RSS {idle[0]:.0f} MB / PSS {idle[1]:.0f} MB;"
        f" peak RSS {peak[0]:.0f} MB / PSS {peak[1]:.0f} MB; at the end RSS {end[0]:.0f} MB / PSS {end[1]:.0f} MB"
    )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    met = errors == 0 and (burst or not slow)
    if not burst and slow:
        print(f"p95 over {P95_TARGET_MS:.0f} ms: {', '.join(slow)}")
    return met
