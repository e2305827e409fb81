"""The service's deployment as its repository states it, read the way its tools read it.

The service's repository folder holds how it is run: ``gunicorn.conf.py`` (the service's own
figures: workers, threads, listen backlog, connections per worker, graceful timeout, bind) and, for
what the platform owns, ``deploy/compose.yaml`` (the container's memory limit) and
``deploy/gateway.conf`` (the gateway's upstream read timeout).  Both engines run the service as
these files say, so the service's README, its configuration and the telemetry agree; no engine
keeps a second copy of a figure.

Engine-neutral: this module imports nothing of the engines.
"""

from __future__ import annotations

import logging
import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from gunicorn.config import Config

GUNICORN_CONF = "gunicorn.conf.py"
COMPOSE_FILE = "deploy/compose.yaml"
GATEWAY_CONF = "deploy/gateway.conf"
FILES = (GUNICORN_CONF, COMPOSE_FILE, GATEWAY_CONF)
SERVICE = "platform-api"  # the compose service that runs it

# docker's byte units (binary multiples) and nginx's time units
_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TIME_UNITS = {"ms": 0.001, "": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


class DeploymentError(ValueError):
    """The deployment files say something the engines cannot run, or cannot be read."""


@dataclass(frozen=True)
class Deployment:
    """What the engines take from the deployment: one gthread worker and the platform around it."""

    wsgi_app: str
    workers: int
    threads: int
    backlog: int  # listen backlog: connections beyond it are refused
    worker_connections: int  # connections the worker holds open at once
    graceful_timeout_s: float  # how long a replaced worker may finish what it accepted
    port: int
    memory_limit_bytes: int  # the container's
    upstream_timeout_s: float  # the gateway's wait for the response header
    # gunicorn's settings as it read them, and the hook it calls once a worker has loaded the app
    # (its own no-op unless the conf defines one): what the figures above come from, not figures
    config: Config = field(compare=False, repr=False)
    post_worker_init: Callable[[Any], None] = field(compare=False, repr=False)


def gunicorn_config(path: Path) -> Config:
    """``path`` executed as gunicorn executes its ``-c`` file, its settings applied over gunicorn's
    defaults (names gunicorn does not know are ignored, as gunicorn ignores them)."""
    config = Config()
    for name, value in runpy.run_path(str(path)).items():
        if name in config.settings:
            config.set(name, value)
    return config


def _memory_limit(compose: Path) -> int:
    """The compose service's ``mem_limit`` in bytes (docker's units: ``1g`` is 1024**3)."""
    document = yaml.safe_load(compose.read_text())
    try:
        raw = str(document["services"][SERVICE]["mem_limit"])
    except (KeyError, TypeError) as error:
        raise DeploymentError(f"{compose}: no services.{SERVICE}.mem_limit") from error
    match = re.fullmatch(r"(\d+)([bkmg]?)", raw.strip().lower())
    if match is None:
        raise DeploymentError(f"{compose}: mem_limit {raw!r} is not a size docker reads")
    return int(match[1]) * _BYTE_UNITS[match[2]]


def _read_timeout(gateway: Path) -> float:
    """The route's ``proxy_read_timeout`` in seconds (nginx's units; seconds without one)."""
    directives = re.sub(r"#[^\n]*", "", gateway.read_text())  # nginx comments run to the line's end
    found = re.findall(r"(?<![\w-])proxy_read_timeout\s+([^;\s]+)\s*;", directives)
    if len(found) != 1:
        raise DeploymentError(f"{gateway}: expected one proxy_read_timeout, found {len(found)}")
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", found[0])
    if match is None:
        raise DeploymentError(f"{gateway}: proxy_read_timeout {found[0]!r} is not a time nginx reads")
    return int(match[1]) * _TIME_UNITS[match[2] or ""]


def read(repository: Path) -> Deployment:
    """The deployment of the service whose repository folder is ``repository``."""
    config = gunicorn_config(repository / GUNICORN_CONF)
    if config.worker_class_str != "gthread" or config.workers != 1:
        raise DeploymentError(
            f"{repository / GUNICORN_CONF}: the engines run one gthread worker, not "
            f"{config.workers} {config.worker_class_str} worker(s)"
        )
    addresses = config.address
    if len(addresses) != 1 or not isinstance(addresses[0], tuple):
        raise DeploymentError(f"{repository / GUNICORN_CONF}: bind one TCP address, not {config.bind}")
    return Deployment(
        wsgi_app=config.wsgi_app,
        workers=config.workers,
        threads=config.threads,
        backlog=config.backlog,
        worker_connections=config.worker_connections,
        graceful_timeout_s=float(config.graceful_timeout),
        port=addresses[0][1],
        memory_limit_bytes=_memory_limit(repository / COMPOSE_FILE),
        upstream_timeout_s=_read_timeout(repository / GATEWAY_CONF),
        config=config,
        post_worker_init=config.post_worker_init,
    )


def worker_view(conf: Deployment, pid: int) -> Any:
    """What gunicorn hands a server hook as its ``worker``: the settings (``cfg``), the pid and
    gunicorn's error log."""
    return SimpleNamespace(cfg=conf.config, pid=pid, log=logging.getLogger("gunicorn.error"))
