"""How the platform is served: one process (werkzeug) or several (gunicorn), directly or behind a
TLS-terminating reverse proxy.

One process is enough for an interview or two.  A team running many at once serves several
gunicorn worker processes over one interviews database (PostgreSQL recommended): every request is
recorded in that database as it happens and no worker keeps interview state in memory, so any
worker can answer any candidate.  Each worker builds its own app after the fork (its own dataset
connections, metric cache and database engine; nothing opened in the master is shared), and starts
its own background metric preload.  The master only checks the dataset, creates the tables and
mints the secrets before forking (``obsim_cli.main``), so workers never race to create them.

Forwarded headers (``X-Forwarded-For``, ``-Proto``, ``-Host``) are believed only with
``behind_proxy``: otherwise any client could claim to have come over TLS or from another address.
gunicorn trusts them from 127.0.0.1 by default, which is turned off here so one flag decides.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import run_simple

from interview.store import InterviewStore
from observability_ui.application import create_app
from observability_ui.candidate_session import Served
from observability_ui.day import Day, Generation
from observability_ui.request_context import DEFAULT_METRIC_MEMORY_MB
from obsim import scenario as scenarios
from obsim.scenario import Scenario

# gthread: a slow query (a wide PromQL range) holds a thread, not a whole worker, and the worker's
# heartbeat stays on its main thread, so gunicorn does not kill a worker busy with one.
WORKER_CLASS = "gthread"
THREADS_PER_WORKER = 4
#: no keep-alive between requests: each request is a new connection, accepted by whichever worker
#: is free (a kept connection stays with the worker that accepted it, whose four threads may be busy
#: while another worker idles).  gunicorn's 2 s default closed connections a client was about to
#: reuse: a request meeting the close failed ("connection reset", 1 in 466 with 30 candidates
#: pausing 2-5 s).  Behind a proxy, the browser's connection to the proxy is kept all the same.
KEEPALIVE_S = 0


@dataclass(frozen=True)
class Platform:
    """What to serve, as plain values each worker builds its own app from."""

    dataset: Path
    brief: str = ""
    incident: Scenario | None = None
    db_url: str | None = None  # the interviews database: serve an interview on ``incident``
    behind_proxy: bool = False
    public_url: str | None = None  # where candidates reach the server: links are built on it
    more_incidents: tuple[Served, ...] = ()  # further scenarios the interview runs, each its dataset
    day: bool = False  # an interview day: also every library scenario as soon as its dataset is ready
    metric_memory_mb: int = DEFAULT_METRIC_MEMORY_MB  # metric arrays kept across datasets
    #: ``incident``'s dataset (at ``seed``) is not ready: generate it in the background at start-up
    #: and serve meanwhile.  One process only: every worker would start its own generation.
    prepare: bool = False
    seed: int | None = None
    #: how ``day`` and ``prepare`` find and make datasets (the entry layer's cache and generation)
    generation: Generation | None = None


def build(platform: Platform) -> Flask:
    """The app for one server process, with the metric preload (and a cold start's preparation)
    started in this process."""
    interviews = InterviewStore(platform.db_url) if platform.db_url is not None else None
    day = _day(platform)
    app = create_app(
        platform.dataset,
        brief=platform.brief,
        preload=True,
        interviews=interviews,
        incident=platform.incident,
        public_url=platform.public_url,
        more_incidents=platform.more_incidents,
        day=day,
        metric_memory_mb=platform.metric_memory_mb,
    )
    if platform.prepare and day is not None and platform.incident is not None:
        day.prepare(platform.incident.id)  # once the app waits for it: it preloads what is published
    if platform.behind_proxy:
        trust_proxy(app)
    return app


def _day(platform: Platform) -> Day | None:
    """The scenarios that may become ready while serving: on an interview day every one of the
    library; on a cold start the incident."""
    if not platform.day and not (platform.prepare and platform.incident is not None):
        return None
    if platform.generation is None:
        raise ValueError("a day or a cold start needs the generation that prepares its datasets")
    if platform.day:
        return Day(scenarios.load_all(), platform.generation)
    return Day([platform.incident], platform.generation, seed=platform.seed)


def trust_proxy(app: Flask) -> None:
    """Take the client's address, scheme and host from one reverse proxy's X-Forwarded-* headers.

    Behind a TLS-terminating proxy this makes ``request.is_secure`` true, so the candidate's and
    the interviewer's cookies get ``Secure``.  Links are never built on the forwarded host: they use
    the public URL given at launch.
    Exactly one proxy is trusted (the last value of each header), so a client cannot prepend its own.
    """
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]


#: a candidate link or the interviewer's login link: the path carries a secret
SECRET_PATH = re.compile(r"(/(?:join|interviewer/login)/)([\w-]{4})[\w-]*")


class RedactSecrets(logging.Filter):
    """Keep the secrets in candidate and interviewer links out of the request log: only their first
    four characters are logged, enough to tell requests apart, not to replay a link."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = SECRET_PATH.sub(r"\1\2…", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def serve(platform: Platform, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted: in this process for one worker, under gunicorn for more."""
    logging.getLogger("werkzeug").addFilter(RedactSecrets())
    if platform.prepare and workers > 1:
        raise ValueError("a dataset is prepared while serving by one server process only")
    if workers <= 1:
        run_simple(host, port, build(platform), threaded=True, use_reloader=False)
        return
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _Gunicorn(
        platform,
        {
            "bind": bind,
            "workers": workers,
            "worker_class": WORKER_CLASS,
            "threads": THREADS_PER_WORKER,
            "keepalive": KEEPALIVE_S,
            "forwarded_allow_ips": "",  # forwarded headers are ProxyFix's job, and only when asked
            "proc_name": "obsim",
        },
    ).run()


class _Gunicorn(BaseApplication):
    """gunicorn driven from Python: options from ``obsim``'s flags, each worker builds its app."""

    def __init__(self, platform: Platform, options: dict[str, Any]) -> None:
        self.platform = platform
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return build(self.platform)
