"""The service's deployment: stated once in its repository, honoured by both engines, seen in the telemetry.

A candidate reads the service's README, ``gunicorn.conf.py`` and ``deploy/`` in the code browser
and compares them with the startup logs and the metrics: they must agree.  And the engines take
every figure from those files (:mod:`world.deployment`), so a changed file changes the run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from obsim.dataset.schema import DATABASE_NAME
from obsim_cli.generate import generate
from platform_api.lib.config import Settings
from tests.conftest import RUNS
from tests.deployment_patch import REPOSITORY, deployment_patch
from tests.short_scenario import short_scenario
from world import deployment
from world.deployment import Deployment, DeploymentError

CHECKOUT = deployment.read(REPOSITORY)
GIB = 1024**3
# The gateway's upstream addresses: attributes its spans share, stored once per span template.
UPSTREAMS = "SELECT DISTINCT json_extract(attributes, '$.\"upstream.address\"') FROM span_templates WHERE service = 'gateway'"
# Each status code the gateway answered with, and how long its answers took.
GATEWAY_DURATIONS = (
    "SELECT json_extract(r.own_attributes, '$.\"http.response.status_code\"'), min(r.duration), max(r.duration)"
    " FROM span_records r JOIN span_templates t ON t.id = r.template WHERE t.service = 'gateway' GROUP BY 1"
)
TIMER_LATE_S = 0.01  # a proxy's timer fires a few milliseconds late at most


def _readme() -> dict[str, str]:
    """The deployment as the service's README states it to its operators."""
    raw = (REPOSITORY / "README.md").read_text()
    text = " ".join(raw.split())  # sentences wrap anywhere
    patterns = {
        "wsgi_app": r"gunicorn -c gunicorn\.conf\.py # serves (\S+)",
        "threads": r"one `gthread` worker of (\d+) threads per host",
        "port": r"on port (\d+)",
        "backlog": r"a listen backlog of (\d+)",
        "worker_connections": r"up to (\d+) open connections per worker",
        "graceful_timeout_s": r"a (\d+) s graceful timeout",
        "memory_limit_gib": r"a (\d+) GiB memory limit",
        "upstream_timeout_s": r"a (\d+) s upstream read timeout",
    }
    found = {name: re.search(pattern, text) for name, pattern in patterns.items()}
    pool = re.search(r"^\| `DB_POOL_SIZE` / `DB_MAX_OVERFLOW` \| (\d+) / \d+ \|", raw, re.MULTILINE)
    missing = [name for name, match in found.items() if match is None] + ([] if pool else ["pool"])
    assert not missing, f"the README no longer states {missing} as this test reads it"
    return {**{name: match[1] for name, match in found.items() if match}, "pool": pool[1] if pool else ""}


def test_the_readme_states_the_deployment_its_files_give():
    readme = _readme()
    assert readme["wsgi_app"] == CHECKOUT.wsgi_app
    for figure in ("threads", "port", "backlog", "worker_connections"):
        assert int(readme[figure]) == getattr(CHECKOUT, figure), figure
    assert float(readme["graceful_timeout_s"]) == CHECKOUT.graceful_timeout_s
    assert float(readme["upstream_timeout_s"]) == CHECKOUT.upstream_timeout_s
    assert int(readme["memory_limit_gib"]) * GIB == CHECKOUT.memory_limit_bytes
    assert int(readme["pool"]) == Settings().db_pool_size
    assert CHECKOUT.workers == 1


def _repository(root: Path, conf: str, mem_limit: str, gateway: str) -> Path:
    (root / "deploy").mkdir(parents=True)
    (root / deployment.GUNICORN_CONF).write_text(conf)
    (root / deployment.COMPOSE_FILE).write_text(f"services:\n  platform-api:\n    mem_limit: {mem_limit}\n")
    (root / deployment.GATEWAY_CONF).write_text(gateway)
    return root


def test_the_files_are_read_as_gunicorn_docker_and_nginx_read_them(tmp_path):
    """gunicorn's defaults for what the conf leaves out, docker's byte units, nginx's time units."""
    conf = (
        'wsgi_app = "platform_api.wsgi:app"\nworker_class = "gthread"\nthreads = 7\nbind = ["0.0.0.0:9000"]\n'
    )
    read = deployment.read(
        _repository(tmp_path / "ok", conf, "512m", "location / { proxy_read_timeout 2m; }\n")
    )
    assert read == Deployment(
        wsgi_app="platform_api.wsgi:app",
        workers=1,
        threads=7,
        backlog=2048,
        worker_connections=1000,
        graceful_timeout_s=30.0,
        port=9000,
        memory_limit_bytes=512 * 1024**2,
        upstream_timeout_s=120.0,
        config=read.config,
        post_worker_init=read.post_worker_init,
    )
    # a conf without the hook gets gunicorn's own no-op; the service's conf has its own
    assert read.post_worker_init.__module__ == "gunicorn.config"
    assert CHECKOUT.post_worker_init.__module__ != "gunicorn.config"
    # gunicorn runs a sync worker with threads as gthread
    sync = deployment.read(
        _repository(tmp_path / "sync", conf.replace("gthread", "sync"), "1g", "proxy_read_timeout 9;")
    )
    assert (sync.threads, sync.upstream_timeout_s) == (7, 9.0)
    refused = {
        "two workers": (conf + "workers = 2\n", "1g", "proxy_read_timeout 30s;\n"),
        "gevent worker": (conf.replace("gthread", "gevent"), "1g", "proxy_read_timeout 30s;\n"),
        "no read timeout": (conf, "1g", "proxy_pass http://platform_api;\n"),
        "odd size": (conf, "1.5g", "proxy_read_timeout 30s;\n"),
    }
    for name, files in refused.items():
        with pytest.raises(DeploymentError):
            deployment.read(_repository(tmp_path / name.replace(" ", "-"), *files))


def test_a_run_takes_its_figures_from_the_deployment_files(tmp_path):
    """Threads, port and memory limit changed in the files change what the run records."""
    patch = tmp_path / "deployment.patch"
    patch.write_bytes(deployment_patch(threads=7, port=8123, mem_limit="3g", read_timeout="12s"))
    scenario = short_scenario(tmp_path / "scenarios")
    run = generate(scenario, patch_file=patch, out=tmp_path / "dataset", use_cache=False, quiet=True)
    with sqlite3.connect(run.path / DATABASE_NAME) as db:
        threads = {v for (v,) in _samples(db, "webserver_threads_max")}
        limits = {v for (v,) in _samples(db, "container_spec_memory_limit_bytes")}
        upstreams = {a for (a,) in db.execute(UPSTREAMS)}
    assert threads == {7.0}, threads
    assert limits == {3.0 * GIB}
    assert upstreams == {"app-1:8123"}


def _samples(db: sqlite3.Connection, sample_name: str) -> list[tuple[float]]:
    return db.execute(
        "SELECT m.value FROM metric_samples m JOIN metric_series s ON s.id = m.series_id WHERE s.sample_name = ?",
        (sample_name,),
    ).fetchall()


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_service_runs_as_its_readme_says(datasets, run):
    """A candidate compares the README's deployment with the startup logs and the metrics."""
    readme = _readme()
    with sqlite3.connect(datasets[run] / DATABASE_NAME) as db:
        started = db.execute("SELECT attributes FROM logs WHERE message = 'service started'").fetchall()
        pools = {v for (v,) in _samples(db, "db_client_connection_max")}
        threads = {v for (v,) in _samples(db, "webserver_threads_max")}
        limits = {v for (v,) in _samples(db, "container_spec_memory_limit_bytes")}
        upstreams = db.execute(UPSTREAMS).fetchall()
        answered = {code: (low, high) for code, low, high in db.execute(GATEWAY_DURATIONS)}
    for (attributes,) in started:  # workers started inside the window: a restart, a deploy
        record = json.loads(attributes)
        assert record["web.threads"] == int(readme["threads"]), (run, record)
        assert record["db.pool.size"] == int(readme["pool"]), (run, record)
    assert pools == {float(readme["pool"])}, (run, pools)
    assert threads == {float(readme["threads"])}, (run, threads)
    assert limits == {int(readme["memory_limit_gib"]) * GIB}, (run, limits)
    assert {address.rsplit(":", 1)[1] for (address,) in upstreams} == {readme["port"]}, (run, upstreams)
    # No client waits longer than the gateway's upstream timeout; the timeouts answer just after it.
    timeout = float(readme["upstream_timeout_s"])
    assert max(high for _, high in answered.values()) < timeout + TIMER_LATE_S, (run, answered)
    assert answered.get(504, (timeout, timeout))[0] >= timeout, (run, answered)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_service_was_up_before_the_window_and_logs_each_start_inside_it(datasets, run):
    """A recording starts on a service that has been running for hours, as its database backends
    say: the worker's start time is before the first scrape, and each later worker (after an OOM
    kill, or a deploy's) logs its start when it serves."""
    with sqlite3.connect(datasets[run] / DATABASE_NAME) as db:
        starts = sorted({v for (v,) in _samples(db, "process_start_time_seconds")})
        first_scrape = db.execute("SELECT min(ts) FROM metric_samples").fetchone()[0]
        logged = [
            ts for (ts,) in db.execute("SELECT ts FROM logs WHERE message = 'service started' ORDER BY ts")
        ]
    assert starts and starts[0] < first_scrape - 3600, (run, starts[0], first_scrape)
    assert len(logged) == len(starts) - 1, (run, starts, logged)
    # A worker logs its start once booted: seconds after the fork its start time is.
    booted = [at - start for at, start in zip(logged, starts[1:], strict=True)]
    assert all(0 <= seconds < 30 for seconds in booted), (run, starts, logged)
