"""obsim served the way a team runs many interviews: ``obsim serve --workers N`` (gunicorn) over the
connection-leak dataset, twenty candidates at once against one PostgreSQL interviews database, and
which forwarded headers the server believes with and without ``--behind-proxy``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from interview.store import InterviewStore
from obsim import scenario as scenarios
from tests.browser import REPO_ROOT, free_port

pytestmark = pytest.mark.slow

LEAK = scenarios.load("connection-leak")
CANDIDATES = 20
HINTED = {i for i in range(CANDIDATES) if i % 3 == 0}  # these get hint 0 released to them


@dataclass
class Server:
    base: str
    port: int
    process: subprocess.Popen[bytes]
    interviewer_login: str  # the /interviewer/login/<token> path printed at launch
    candidate_join: str  # the launch session's /join/<token> path

    def workers(self) -> set[int]:
        """The gunicorn worker processes: children of the master."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.add(int(stat.parent.name))
        return found


@contextmanager
def obsim_serve(tmp_path: Path, *options: str, timeout: float = 60.0) -> Iterator[Server]:
    """``obsim serve connection-leak`` (the cached dataset) on a free port, in its own process group,
    killed whole at the end whatever happens."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "obsim_cli.main",
                "serve",
                "connection-leak",
                "--port",
                str(port),
                *options,
            ],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(base + "/interviewer/", timeout=5).status_code == 403:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"obsim serve did not come up on {base}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        printed = log_path.read_text()
        login = re.search(r"interviewer console: https?://[^/]+(/interviewer/login/[\w-]+)", printed)
        join = re.search(r"candidate link \(.*\): https?://[^/]+(/join/[\w-]+)", printed)
        assert login and join, printed
        yield Server(base, port, process, login.group(1), join.group(1))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def plan(i: int) -> list[tuple[str, dict[str, str]]]:
    """Candidate ``i``'s requests, each carrying a marker no other candidate's request has."""
    m = f"c{i:02d}"
    return [
        ("/logs", {"query": f'{{level="error"}} |= "{m}-logs"', "from": "now-10m"}),
        ("/api/logs", {"query": f'{{service="platform-api"}} |= "{m}-api"', "from": "now-10m"}),
        ("/api/code-search", {"q": f"{m}-code"}),
        ("/api/metrics/query", {"query": f'db_client_connection_count{{marker="{m}-metrics"}}'}),
        ("/traces", {"service": "platform-api", "tags": f"http.route={m}-traces"}),
    ]


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_twenty_candidates_at_once_on_three_workers(datasets, database, request, tmp_path):
    """No error, no lost event, no cross-talk: on PostgreSQL as recommended, and on SQLite, the default."""
    assert datasets["connection-leak"].is_dir()  # generated (or found) in the cache the server reads
    if database == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'interviews.sqlite'}"
    with obsim_serve(tmp_path, "--workers", "3", "--db", url, "--candidate", "launch") as server:
        deadline = time.monotonic() + 30
        while len(workers := server.workers()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the first worker may answer before the master has forked the last
        assert len(workers) == 3
        interviewer = httpx.Client(base_url=server.base, timeout=30)
        assert interviewer.get(server.interviewer_login).status_code == 302
        links = {}
        for i in range(CANDIDATES):
            page = interviewer.post(
                "/interviewer/sessions", data={"candidate": f"cand-{i:02d}"}, follow_redirects=True
            )
            assert page.status_code == 200
            links[i] = re.search(re.escape(server.base) + r"(/join/[\w-]+)", page.text).group(1)
        interviews = InterviewStore(url)
        ids = {int(s.candidate[5:]): s.id for s in interviews.sessions() if s.candidate.startswith("cand-")}
        assert len(ids) == CANDIDATES
        for i in HINTED:
            released = interviewer.post(f"/interviewer/sessions/{ids[i]}/hint", data={"index": "0"})
            assert released.status_code == 302
        for session in ids.values():
            assert interviewer.post(f"/interviewer/sessions/{session}/start").status_code == 302

        everyone_joined = threading.Barrier(CANDIDATES, timeout=60)

        def candidate(i: int) -> tuple[list[str], bool]:
            """Join, wait for all, run the plan; returns every unexpected status and whether the hint showed."""
            with httpx.Client(base_url=server.base, timeout=60) as client:
                problems = []
                joined = client.post(links[i])
                if joined.status_code != 303 or f"o11y_candidate_{server.port}" not in client.cookies:
                    problems.append(f"join {joined.status_code}")
                everyone_joined.wait()
                last = None
                for path, params in plan(i):
                    last = client.get(path, params=params)
                    if last.status_code != 200:
                        problems.append(f"{path} {last.status_code}")
                return problems, LEAK.hints[0].text in last.text

        with ThreadPoolExecutor(CANDIDATES) as pool:
            results = list(pool.map(candidate, range(CANDIDATES)))

        assert [problems for problems, _ in results] == [[] for _ in range(CANDIDATES)]
        assert {i for i, (_, hint_shown) in enumerate(results) if hint_shown} == HINTED
        for i in range(CANDIDATES):
            recorded = [
                (e.kind, e.detail.get("path"), e.detail.get("args"), e.detail.get("status"))
                for e in interviews.events(ids[i])
            ]
            expected = [
                ("api" if path.startswith("/api/") else "view", path, params, 200) for path, params in plan(i)
            ]
            hint = [("hint", None, None, None)] if i in HINTED else []
            assert recorded == [*hint, ("join", None, None, None), *expected], f"candidate {i}"
        every_event = sum(len(interviews.events(s.id)) for s in interviews.sessions())
        assert every_event == CANDIDATES * (1 + len(plan(0))) + len(HINTED), "no stray event anywhere"
        assert server.workers() == workers, "no worker died or was replaced"
        interviewer.close()
        interviews.engine.dispose()


def test_forwarded_headers_are_believed_only_behind_a_proxy(datasets, tmp_path):
    """Against the real multi-worker server both ways: left alone, gunicorn itself would trust
    X-Forwarded-Proto from 127.0.0.1.  Links never follow the forwarded host: they use the public
    URL (given with --behind-proxy, else the bound address)."""
    assert datasets["connection-leak"].is_dir()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "forged.example"}
    public = "https://interviews.example.com"
    db = f"sqlite:///{tmp_path / 'interviews.sqlite'}"
    for behind_proxy in (False, True):
        flags = ["--behind-proxy", "--public-url", public] if behind_proxy else []
        with obsim_serve(tmp_path, "--workers", "2", "--db", db, "--new-interviewer-token", *flags) as server:
            join = httpx.post(server.base + server.candidate_join, headers=forwarded)
            login = httpx.get(server.base + server.interviewer_login, headers=forwarded)
            suffix = "443" if behind_proxy else str(server.port)
            for response, status, role in ((join, 303, "candidate"), (login, 302, "interviewer")):
                assert response.status_code == status
                attributes = [part.strip() for part in response.headers["set-cookie"].split(";")]
                assert attributes[0].startswith(f"o11y_{role}_{suffix}=") and "HttpOnly" in attributes
                assert ("Secure" in attributes) is behind_proxy, (behind_proxy, attributes)
            assert "SameSite=Lax" in join.headers["set-cookie"]
            assert "SameSite=Strict" in login.headers["set-cookie"]

            token = server.interviewer_login.rsplit("/", 1)[1]
            cookie = f"o11y_interviewer_{suffix}={token}"
            created = httpx.post(
                server.base + "/interviewer/sessions",
                data={"candidate": "remote"},
                headers={**forwarded, "Cookie": cookie},
            )
            assert created.status_code == 303 and "forged.example" not in created.headers["location"]
            one_time = created.headers["set-cookie"].split(";")[0]  # the new link, for the next page
            shown = httpx.get(
                server.base + "/interviewer/", headers={**forwarded, "Cookie": f"{cookie}; {one_time}"}
            )
            assert shown.status_code == 200
            origin = re.search(r"(https?://[^/\s\"<]+)/join/[\w-]+", shown.text).group(1)
            assert origin == (public if behind_proxy else server.base)

            direct = httpx.post(server.base + server.candidate_join)
            assert "Secure" not in direct.headers["set-cookie"], "plain HTTP straight to the server"
