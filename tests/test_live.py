"""Live mode (``obsim live``): the scenarios' bugs on a real server, pool, database and scheduler.

Each test starts ``obsim live`` as a real command on 127.0.0.1 with a strong time scale, watches
what the real systems report while it runs (PostgreSQL's own pg_stat_activity, a real Redis, the
service's ``/metrics``, a real Prometheus, an OTLP receiver) and stops it with SIGINT, as Ctrl-C
does, or lets it end on its own.  Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from live.schedule import ScaledTrigger, Timeline
from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset
from obsim_cli.live_supervisor import free_port
from tests.deployment_patch import deployment_patch
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SCALE = 120  # one scenario hour in 30 s
POOL = 10
# A session idle in transaction this long has been abandoned: the service's longest honest
# transaction (a notification batch sending its emails) lasts a few seconds.
LEAKED_FOR_S = 15.0
STOP_TIMEOUT_S = 90.0


class Live:
    """``obsim live ...`` as a child process in its own session, killed whatever happens."""

    def __init__(self, scenario: str, run_dir: Path, *options: str) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        self.command = [
            sys.executable, "-m", "obsim_cli.main", "live", scenario, "--port", str(self.port), "--out", str(run_dir),
            "--pool-size", str(POOL), "--time-scale", str(SCALE), *options,
        ]  # fmt: skip
        self.popen: subprocess.Popen[str] | None = None

    def __enter__(self) -> Live:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.popen = subprocess.Popen(
            self.command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.popen is not None
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        _kill_leftovers(self.run_dir)

    def ready(self, timeout: float = 120.0) -> dict[str, Any]:
        def published() -> dict[str, Any] | None:
            assert self.popen is not None and self.popen.poll() is None, self.output()
            ready = self.run_dir / "ready.json"
            return json.loads(ready.read_text()) if ready.exists() else None

        return wait_for(published, timeout, "the live service to start")

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the supervisor, which stops its process groups."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.popen is not None
        self.popen.wait(timeout)
        return self.popen.returncode

    def output(self) -> str:
        if self.popen is None or self.popen.poll() is None:
            return ""
        return self.popen.stdout.read() if self.popen.stdout else ""

    def requests(self) -> list[dict[str, Any]]:
        path = self.run_dir / "requests.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _run_processes(run_dir: Path) -> list[int]:
    """Processes whose command line names this run directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(run_dir).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill_leftovers(run_dir: Path) -> None:
    for pid in _run_processes(run_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _ui_answer(ask: Callable[[str], Any], ui: str) -> Any:
    """``ask(ui)``, or None while the UI process is still starting."""
    try:
        return ask(ui)
    except httpx.TransportError:
        return None


def _abandoned_sessions(url: str) -> list[tuple[Any, ...]]:
    """PostgreSQL's own view: the service's backends idle in transaction for over LEAKED_FOR_S."""
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=3) as connection:
        return connection.execute(
            "SELECT pid, state, query FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'platform-api'"
            " AND state = 'idle in transaction' AND state_change < now() - make_interval(secs => %s)",
            (LEAKED_FOR_S,),
        ).fetchall()


def _pool_timeouts(live: Live) -> list[dict[str, Any]]:
    return [r for r in live.requests() if r["outcome"] == "503" and r["error"] == "Database unavailable"]


# -- Prometheus ------------------------------------------------------------------------------------


class Prometheus:
    """Debian's prometheus scraping the live service every second, on 127.0.0.1."""

    def __init__(self, binary: str, workdir: Path, target_port: int) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: platform-api\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.popen = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=(workdir / "prometheus.log").open("wb"), start_new_session=True,
        )  # fmt: skip

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=5)
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(
            "prometheus is not installed (Debian package 'prometheus'; scripts/install-test-tools.sh)"
        )
    return binary


# -- tests -----------------------------------------------------------------------------------------


def test_scaled_cron_fires_hourly_jobs_every_60_over_scale_minutes() -> None:
    from apscheduler.triggers.cron import CronTrigger

    start = datetime(2026, 3, 10, 9, 50, tzinfo=UTC).timestamp()
    real = time.time()
    trigger = ScaledTrigger(CronTrigger(minute=0, timezone=UTC), Timeline(start, real, SCALE))
    first = trigger.get_next_fire_time(None, datetime.fromtimestamp(real, UTC))
    second = trigger.get_next_fire_time(first, first)
    assert first is not None and second is not None
    assert first.timestamp() - real == pytest.approx(600 / SCALE, abs=1e-3)  # 10:00 is 10 scenario minutes in
    assert (second - first).total_seconds() == pytest.approx(3600 / SCALE, abs=1e-3)
    # APScheduler asks again from the same previous fire once it has listed the due run times.
    assert trigger.get_next_fire_time(first, first + timedelta(milliseconds=10)) == second


def test_refuses_a_pool_postgres_cannot_hold(postgres_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "obsim_cli.main", "live", "connection-leak", "--db", postgres_url, "--pool-size", "100000",
         "--out", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 2
    assert "max_connections" in result.stderr and "--pool-size" in result.stderr
    assert not (tmp_path / "run" / "server.log").exists()


def _pool_max_samples(ui: str) -> tuple[float, float] | None:
    """The candidate UI's answer over the last 15 minutes: its range end and how many scrapes of
    the pool's size it holds (None before the first)."""
    answer = httpx.get(
        f"{ui}/api/metrics/query_range",
        params={"query": "count_over_time(db_client_connection_max[15m])", "from": "now-15m"},
        timeout=10,
    ).json()
    if not answer["series"]:
        return None
    return answer["range"]["end"], answer["series"][0]["points"][-1][1]


def test_connection_leak_on_postgres(postgres_url: str, tmp_path: Path, prometheus_binary: str) -> None:
    """The leak, live: real backends idle in transaction, pool timeouts, seen by Prometheus, OTLP
    and the candidate UI following the recording."""
    run_dir = tmp_path / "run"
    ui_port = free_port()
    ui = f"http://127.0.0.1:{ui_port}"
    with (
        OtlpReceiver() as otlp,
        Live(
            "connection-leak", run_dir, "--db", postgres_url, "--load-scale", "3", "--duration", "90",
            "--otlp-endpoint", otlp.endpoint, "--ui-port", str(ui_port),
        ) as live,
    ):  # fmt: skip
        live.ready()
        prometheus = Prometheus(prometheus_binary, tmp_path, live.port)
        try:
            first_end, first_count = wait_for(
                lambda: _ui_answer(_pool_max_samples, ui), 30, "the candidate UI"
            )
            # The validation service degrades at minute 20 (10 s in); each hung validation call
            # abandons a transaction until all POOL connections are held.
            leaked = wait_for(lambda: len(_abandoned_sessions(postgres_url)) >= POOL and _abandoned_sessions(postgres_url), 75, "the pool's connections to leak", 1.0)  # fmt: skip
            assert all(row[1] == "idle in transaction" for row in leaked)
            assert any("workflows" in row[2] for row in leaked), leaked
            wait_for(lambda: _pool_timeouts(live), 20, "requests to time out waiting for a connection")
            time.sleep(2)  # a couple more scrapes
            # Once every worker thread waits for a connection, scrapes of /metrics time out too and
            # Prometheus marks the series stale: what was seen is read over a range.
            assert (
                prometheus.scalar(
                    'max_over_time(db_client_connection_max{db_client_connection_pool_name="platform-api"}[5m])'
                )
                == POOL
            )
            assert (
                prometheus.scalar(
                    'max_over_time(db_client_connection_count{db_client_connection_state="used"}[5m])'
                )
                == POOL
            )
            assert prometheus.scalar("max_over_time(db_client_connection_pending_requests[5m])") > 0
            assert (
                prometheus.scalar('max_over_time(pg_stat_activity_count{state="idle in transaction"}[5m])')
                >= POOL
            )

            # The UI reads the recording as it grows: "last 15 minutes" ends later and holds a new scrape.
            def newer() -> tuple[float, float] | None:
                answer = _pool_max_samples(ui)
                return answer if answer is not None and answer[1] > first_count else None

            end, _ = wait_for(newer, 20, "a new scrape in the UI")
            assert end > first_end
            logs = httpx.get(f"{ui}/api/logs", params={"from": "now-5m"}, timeout=10).json()
            assert max(entry["ts"] for entry in logs["entries"]) > first_end
            assert httpx.get(f"{ui}/", timeout=10).status_code == 200
            assert httpx.get(f"{ui}/database", timeout=10).status_code == 200
        finally:
            prometheus.stop()
        assert live.interrupt() == 0, live.output()
    assert not _run_processes(run_dir)

    server_log = [
        json.loads(line) for line in (run_dir / "server.log").read_text().splitlines() if line.startswith("{")
    ]
    assert any(entry.get("error.type") == "TimeoutError" and "QueuePool limit" in entry.get("error.message", "")
               for entry in server_log)  # fmt: skip
    # OTLP: the SDK delivered the service's spans and logs, trace-correlated.
    assert any(s["name"] == "POST /api/v1/workflows" and s["service"] == "platform-api" for s in otlp.spans)
    assert any(s["name"] == "db.connection.acquire" for s in otlp.spans)
    assert any(log["body"] == "request completed" and log["trace_id"] for log in otlp.logs)
    # The dataset the UI reads holds what PostgreSQL reported.
    assert sorted(path.name for path in (run_dir / "dataset").iterdir()) == [
        "manifest.json",
        "telemetry.sqlite",
    ]
    with Dataset.open(run_dir / "dataset") as dataset:
        assert not dataset.recording and dataset.window()[1] > end
        idle = dataset.connection.execute(
            "SELECT count(*) FROM db_sessions WHERE state = 'idle in transaction'"
        ).fetchone()[0]
        spans = dataset.connection.execute("SELECT count(*) FROM spans").fetchone()[0]
    assert idle >= POOL and spans > 100


def _lock_waits(url: str) -> list[tuple[Any, ...]]:
    """PostgreSQL's own view: the service's backends waiting on a lock, each with the pids that
    block it (``pg_blocking_pids``) and what the first of them is doing."""
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=3) as connection:
        return connection.execute(
            "SELECT w.pid, w.query, pg_blocking_pids(w.pid), b.state, b.query"
            " FROM pg_stat_activity w JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(w.pid))[1]"
            " WHERE w.datname = current_database() AND w.application_name = 'platform-api'"
            " AND w.wait_event_type = 'Lock'"
        ).fetchall()


def test_row_lock_contention_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """The seat report, live: once the payment gateway slows, user saves wait on a real
    PostgreSQL's row locks, held by the report's transaction while it waits on the gateway, and
    the recording's sessions name the blocker as the server did."""
    run_dir = tmp_path / "run"
    # One scenario hour in two minutes: the gateway slows 33 s in and the seat report runs every
    # 30 s, while each of its gateway calls still takes seconds (latency is not scaled).
    with Live(
        "row-lock-contention", run_dir, "--db", postgres_url, "--load-scale", "3", "--duration", "75",
        "--time-scale", "30",
    ) as live:  # fmt: skip
        live.ready()

        def saves_behind_the_report() -> list[tuple[Any, ...]]:
            """Saves waiting on a session idle in its transaction after a ``FOR UPDATE`` read: the
            report, waiting on the gateway (between calls its session is briefly active)."""
            return [
                wait
                for wait in _lock_waits(postgres_url)
                if wait[1].startswith("UPDATE users")
                and wait[3] == "idle in transaction"
                and "FOR UPDATE" in wait[4]
            ]

        waits = wait_for(saves_behind_the_report, 70, "a save to wait on the report's row locks", 0.5)
        assert all(blocking for _, _, blocking, _, _ in waits), waits
        assert live.interrupt() == 0, live.output()
    assert not _run_processes(run_dir)
    with Dataset.open(run_dir / "dataset") as dataset:
        recorded = dataset.connection.execute(
            "SELECT count(*) FROM db_sessions WHERE wait_event_type = 'Lock' AND blocked_by IS NOT NULL"
        ).fetchone()[0]
    assert recorded > 0


def test_connection_leak_fixed_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """With fix.patch, the same run leaks nothing, and every process stops on its own."""
    patch = scenarios.fix_patch(scenarios.load("connection-leak"))
    run_dir = tmp_path / "run"
    with Live(
        "connection-leak", run_dir, "--db", postgres_url, "--load-scale", "3", "--duration", "32", "--patch", str(patch)
    ) as live:  # fmt: skip
        live.ready()
        worst = 0
        while live.popen is not None and live.popen.poll() is None:
            worst = max(worst, len(_abandoned_sessions(postgres_url)))
            time.sleep(1.0)
        assert live.wait() == 0, live.output()
    assert not _run_processes(run_dir)
    requests = live.requests()
    assert len(requests) > 500
    assert worst == 0
    assert not _pool_timeouts(live)
    assert sum(r["outcome"] in ("200", "201", "202") for r in requests) > 0.9 * len(requests)


def test_cron_storm_on_sqlite(tmp_path: Path) -> None:
    """The hourly jobs fire together at the scaled top of the hour and the pool saturates then."""
    run_dir = tmp_path / "run"
    with Live("cron-storm", run_dir, "--duration", "12") as live:
        timeline = live.ready()["timeline"]
        # The window starts at 09:50: 10:00 comes 10 scenario minutes in.
        storm = timeline["real_start"] + 600 / SCALE
        peak = {"used": 0.0, "pending": 0.0}
        while time.time() < storm + 4:
            try:
                text = httpx.get(f"http://127.0.0.1:{live.port}/metrics", timeout=2).text
            except httpx.TransportError:
                continue
            for line in text.splitlines():
                if line.startswith("db_client_connection_count{") and 'state="used"' in line:
                    peak["used"] = max(peak["used"], float(line.rsplit(" ", 1)[1]))
                if line.startswith("db_client_connection_pending_requests{"):
                    peak["pending"] = max(peak["pending"], float(line.rsplit(" ", 1)[1]))
            time.sleep(0.1)
        assert live.wait() == 0, live.output()
    assert peak["used"] == POOL and peak["pending"] > 0

    hourly = {"sync_tenant_data", "generate_usage_reports", "cleanup_expired_records", "send_activity_digests",
              "recompute_engagement_scores"}  # fmt: skip
    started: dict[str, list[float]] = {job: [] for job in hourly}
    for line in (run_dir / "server.log").read_text().splitlines():
        if line.startswith("{") and '"job started"' in line:
            entry = json.loads(line)
            if entry["job.id"] in hourly:
                started[entry["job.id"]].append(datetime.fromisoformat(entry["timestamp"]).timestamp())
    for job, times in started.items():
        assert len(times) == 1 and abs(times[0] - storm) < 0.5, (job, [t - storm for t in times])
    requests = [
        r for r in json.loads("[" + ",".join((run_dir / "requests.jsonl").read_text().splitlines()) + "]")
    ]
    before = sorted(r["duration"] for r in requests if r["start"] < storm)
    during = [r["duration"] for r in requests if storm <= r["start"] < storm + 2]
    assert before and during
    assert max(during) > 4 * before[len(before) // 2]


def test_the_server_runs_as_the_services_deployment_says(tmp_path: Path) -> None:
    """A patched ``gunicorn.conf.py`` changes the live server's threads, as it changes the simulator's."""
    patch = tmp_path / "deployment.patch"
    patch.write_bytes(deployment_patch(threads=7, port=8123, mem_limit="3g", read_timeout="12s"))
    run_dir = tmp_path / "run"
    with Live("cron-storm", run_dir, "--duration", "3", "--patch", str(patch)) as live:
        live.ready()
        assert live.wait() == 0, live.output()
    started = [
        json.loads(line)
        for line in (run_dir / "server.log").read_text().splitlines()
        if line.startswith("{") and '"service started"' in line
    ]
    assert [record["web.threads"] for record in started] == [7]


# -- Redis -----------------------------------------------------------------------------------------

REDIS = os.environ.get("OBSIM_TEST_REDIS", "redis://127.0.0.1:6379")  # a server; each test picks an index


def _empty_redis_index(index: int) -> str:
    """The URL of database ``index`` of the test Redis; skips without a Redis or if it holds keys."""
    import redis

    url = f"{REDIS}/{index}"
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        size = client.dbsize()
    except redis.RedisError as error:
        pytest.skip(f"no Redis at {REDIS} ({error}); scripts/install-test-tools.sh starts one")
    finally:
        client.close()
    if size:
        pytest.skip(f"database {index} of {REDIS} holds {size} keys; the test needs it empty")
    return url


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=3, decode_responses=True)


def _p(values: list[float], quantile: float) -> float:
    """``quantile`` of sorted ``values``."""
    return values[min(len(values) - 1, int(quantile * len(values)))]


def _share_over(values: list[float], threshold: float) -> float:
    return sum(value > threshold for value in values) / len(values)


def test_redis_keys_scan_on_a_real_redis(tmp_path: Path) -> None:
    """Until the sessions page opens (scenario minute 15) the real Redis answers in microseconds;
    from then on KEYS on the seeded keyspace blocks it and every request's session write waits."""
    url = _empty_redis_index(13)
    run_dir = tmp_path / "run"
    with Live(
        "redis-keys-scan", run_dir, "--redis-url", url, "--duration", "20", "--load-scale", "2"
    ) as live:
        live.ready()
        assert _redis(url).dbsize() >= 1_040_000  # the shared instance's other clients' keys
        assert live.wait() == 0, live.output()
    assert not _run_processes(run_dir)
    assert _redis(url).dbsize() == 0  # the index live mode found empty is flushed

    with Dataset.open(run_dir / "dataset") as dataset:
        sql = dataset.connection.execute

        def durations(where: str) -> tuple[list[float], list[float]]:
            """Durations of the spans ``where`` selects, started before and after the first KEYS."""
            rows = sql(f"SELECT start, duration FROM spans WHERE {where}").fetchall()
            return (
                sorted(duration for start, duration in rows if start < first_keys),
                sorted(duration for start, duration in rows if start >= first_keys),
            )

        keys = sorted(row[0] for row in sql("SELECT duration FROM spans WHERE name = 'KEYS'"))
        first_keys = sql("SELECT min(start) FROM spans WHERE name = 'KEYS'").fetchone()[0]
        run_start = sql("SELECT min(start) FROM spans").fetchone()[0]
        sets_before, sets_after = durations("name = 'SET'")
        _, api_after = durations(
            "kind = 'server' AND parent_span_id IS NULL AND name LIKE '% /api/%'"
            " AND name != 'GET /api/v1/sessions'"
        )
        slowlog = [row[0] for row in sql("SELECT message FROM logs WHERE service = 'redis'")]
        figures = dict(
            sql(
                "SELECT s.sample_name || s.labels, max(m.value) FROM metric_series s"
                " JOIN metric_samples m ON m.series_id = s.id WHERE s.family LIKE 'redis%' GROUP BY s.id"
            ).fetchall()
        )
    # Scenario minute 15 is 7.5 s into the run at this time scale; the first KEYS comes soon after.
    assert 7.0 <= first_keys - run_start <= 12.0, first_keys - run_start
    assert len(keys) >= 5 and _p(keys, 0.5) > 0.05, keys  # each KEYS walks a million keys
    instance = url.split("//")[1].rsplit("/", 1)[0]

    def figure(name: str, **labels: str) -> float:
        return figures[
            name + json.dumps({**labels, "instance": instance}, sort_keys=True, separators=(",", ":"))
        ]

    # Each KEYS blocks Redis for tens of milliseconds, so the session writes (every API request makes
    # one) that arrive meanwhile queue behind it: slow from the API's side, while Redis's own time
    # per SET, from INFO commandstats, stays in microseconds.
    server_set_s = figure("redis_commands_duration_seconds_total", cmd="set") / figure(
        "redis_commands_total", cmd="set"
    )
    assert server_set_s < 0.001, server_set_s
    # real time on a shared machine: a few SETs are slow before the KEYS too (a busy core: 5.2 % of
    # them with two generations running beside the test), so the claim is the change: markedly more
    # of them once KEYS runs
    slow_before, slow_after = _share_over(sets_before, 0.01), _share_over(sets_after, 0.01)
    assert len(sets_before) >= 20 and slow_before < 0.15, sets_before[-10:]
    assert slow_after > 0.05 and slow_after > 2 * slow_before, (slow_before, sets_after[-10:])
    assert _share_over(api_after, 0.03) > 0.05, api_after[-10:]
    assert any(message.startswith("slowlog: KEYS session:") for message in slowlog), slowlog
    assert figure("redis_db_keys", db="db13") >= 1_040_000
    assert figure("redis_commands_total", cmd="keys") >= len(keys)
    assert figure("redis_up") == 1


def test_refuses_a_redis_index_that_is_not_empty(tmp_path: Path) -> None:
    url = _empty_redis_index(12)
    client = _redis(url)
    client.set("someone-else:key", "kept")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "obsim_cli.main", "live", "redis-keys-scan", "--redis-url", url,
             "--out", str(tmp_path / "run")],
            cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "holds 1 keys" in result.stderr and "--redis-url" in result.stderr
        assert not (tmp_path / "run" / "server.log").exists()
        assert client.get("someone-else:key") == "kept"  # not live mode's to flush
    finally:
        client.flushdb()


def test_refuses_to_start_without_redis(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "obsim_cli.main", "live", "redis-keys-scan", "--redis-url", url, "--out", str(tmp_path / "run")],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"no Redis answers at {url}" in result.stderr and "redis-server" in result.stderr
    assert not (tmp_path / "run" / "server.log").exists()


# -- deploys ---------------------------------------------------------------------------------------


def test_deploy_switches_the_release_mid_run(tmp_path: Path) -> None:
    """n-plus-one-deploy: 4.18.2 serves until the scaled deploy moment, then 4.19.0 and its N+1."""
    run_dir = tmp_path / "run"
    with Live("n-plus-one-deploy", run_dir, "--duration", "15") as live:
        timeline = live.ready()["timeline"]
        assert live.wait() == 0, live.output()
    assert not _run_processes(run_dir)
    deploy_at = timeline["real_start"] + 12 * 60 / SCALE

    with Dataset.open(run_dir / "dataset") as dataset:
        sql = dataset.connection.execute
        pipeline = sql(
            "SELECT ts, message FROM logs WHERE service = 'deploy-pipeline' ORDER BY ts"
        ).fetchall()
        started = sql(
            "SELECT ts, json_extract(attributes, '$.\"service.version\"') FROM logs"
            " WHERE service = 'platform-api' AND message = 'service started' ORDER BY ts"
        ).fetchall()
        builds = sql(
            "SELECT json_extract(s.labels, '$.version'), min(m.ts), max(m.ts) FROM metric_series s"
            " JOIN metric_samples m ON m.series_id = s.id WHERE s.family = 'service_build' GROUP BY s.id"
        ).fetchall()
        statements = dict(
            sql(
                "SELECT s.start > :deployed, avg((SELECT count(*) FROM spans c WHERE c.trace_id = s.trace_id"
                " AND c.kind = 'client' AND c.name LIKE 'SELECT%')) FROM spans s WHERE s.service = 'platform-api'"
                " AND s.kind = 'server' AND s.name = 'GET /api/v1/workflows' GROUP BY 1",
                {"deployed": started[-1][0]},
            ).fetchall()
        )  # fmt: skip
    assert [message for _, message in pipeline] == [
        "deploy started: platform-api 4.18.2 -> 4.19.0",
        f"deploy finished: platform-api 4.19.0 on {socket.gethostname()}",
    ]
    assert abs(pipeline[0][0] - deploy_at) < 1.0
    assert [version for _, version in started] == ["4.18.2", "4.19.0"]
    versions = {version: (first, last) for version, first, last in builds}
    assert set(versions) == {"4.18.2", "4.19.0"} and versions["4.18.2"][1] < versions["4.19.0"][0]
    # One SELECT on workflow_runs per row only on the new release.
    assert statements[0] <= 3 and statements[1] >= 10, statements
