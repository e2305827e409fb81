"""The service's start-up and deploys, written once for both engines.

Running the service takes the same steps however time passes: its settings (the scenario's
``[app.settings]`` as its environment), the world's infrastructure wired in where the service
takes it, a worker booted as ``wsgi.py`` boots one (engine and pool, migrations, the app), the
data seeded, the scheduler started, and later a release deployed over the running one.
:class:`ServiceHost` takes those steps; the engine hands in a :class:`World` that answers what
differs between them, the way SimPy's ``rt.py`` changes only how time passes: the simulator's
world is virtual (a modelled PostgreSQL, virtual threads and clock, simulated external services),
live mode's is real (PostgreSQL or SQLite, Redis, threads, the fakes over HTTP).

Engine-neutral: this module imports nothing of the engines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from obsim.scenario import Deploy, Scenario
from world import release
from world.deployment import Deployment, worker_view
from world.release import ServiceCode
from world.scheduled_jobs import Schedule


@dataclass
class RunningRelease:
    """One release running: its modules, its settings and the worker's app."""

    code: ServiceCode
    settings: Any
    app: Any


class World(Protocol):
    """What an engine provides for the service to run in."""

    span_processors: list[Any]  # OpenTelemetry span processors: where finished spans go
    trace_ids: Any  # an OpenTelemetry IdGenerator; None for the service's own (random) ids
    log_handler: logging.Handler  # where the service's log records go

    def settings_overrides(self) -> dict[str, Any]:
        """Settings the world decides over the scenario's: the database, host name, service URLs."""
        ...

    def attach(self, code: ServiceCode, settings: Any) -> None:
        """Install the world's clock, threads and network where ``code`` takes them."""
        ...

    def engine_options(self, code: ServiceCode, settings: Any) -> dict[str, Any]:
        """Options for the release's database engine (its pool class, how it connects)."""
        ...

    def engine_created(self, engine: Any) -> None:
        """The worker's engine exists, before its first connection."""
        ...

    def release_loaded(self, code: ServiceCode) -> None:
        """A release's code is imported and wired: its files and metric registry are in use."""
        ...

    def run_jobs(self, schedule: Schedule, replacing: RunningRelease | None) -> None:
        """Run ``schedule``'s jobs; on a deploy, in place of the ``replacing`` release's."""
        ...

    def hand_over(self, take_over: Callable[[], Any], retire: Callable[[], None], grace_s: float) -> None:
        """Deploy: a new worker boots (``take_over`` returns its app) and takes new requests; the
        old one finishes what it accepted within ``grace_s``, then ``retire`` lets it go."""
        ...

    def log(self, entry: dict[str, Any]) -> None:
        """Record a log line of a component outside the service (the deploy pipeline)."""
        ...


class ServiceHost:
    """The service run as its deployment says, in the world an engine provides.

    ``deployed_root`` is the service repository the scenario's deploy ships (or simply the one
    running); the first release's repository also holds the deployment files the master was
    started with.
    """

    def __init__(self, scenario: Scenario, world: World, conf: Deployment, deployed_root: Path) -> None:
        self.scenario = scenario
        self.world = world
        self.conf = conf
        self.deployed_root = deployed_root
        self.running: RunningRelease | None = None

    # -- the steps ------------------------------------------------------------------------------
    def configure(self, code: ServiceCode, version: str) -> Any:
        """A process's settings and the world wired into it: clock, threads, network, the span
        processors and the log handler.  Returns the settings."""
        settings = code.config.load_settings(
            environ={**self.scenario.app.settings, "SERVICE_VERSION": version},
            **self.world.settings_overrides(),
        )
        self.world.attach(code, settings)
        code.tracing.configure(
            settings.service_name,
            self.world.span_processors,
            id_generator=self.world.trace_ids,
            service_version=settings.service_version,
            host_name=settings.host_name,
        )
        code.logging.configure_logging(settings, handler=self.world.log_handler)
        return settings

    def boot(self, code: ServiceCode, settings: Any) -> RunningRelease:
        """A worker, started as ``wsgi.py`` starts one: its engine and pool, the (idempotent)
        migrations, which also make the engine's first connection before any request can race
        for it, and the app from its factory."""
        engine = code.database.db.configure(settings, **self.world.engine_options(code, settings))
        self.world.engine_created(engine)
        code.migrations.migrate(engine)
        return RunningRelease(code, settings, code.app.create_app(settings))

    def start(self, code: ServiceCode, version: str) -> RunningRelease:
        """The first release: configured and booted; it serves once :meth:`start_jobs` has run."""
        settings = self.configure(code, version)
        self.world.release_loaded(code)
        self.running = self.boot(code, settings)
        return self.running

    def reboot(self) -> Any:
        """A new worker on the running release (after the last one died); returns its app.  The
        dead worker's engine is let go silently: a killed process logs nothing, so its pool's
        dispose records are not the service's."""
        running = self._running()
        release.dispose_silently(running.code.database.db)
        self.running = self.boot(running.code, running.settings)
        return self.running.app

    def seed(self, seed: int, now: datetime) -> Any:
        """The scenario's tenants, users, workflows and records, as of ``now``."""
        code = self._running().code
        data = self.scenario.data
        return code.seed.seed_database(
            code.database.db.engine,
            seed=seed,
            tenants=data.tenants,
            users_per_tenant=data.users_per_tenant,
            workflows_per_tenant=data.workflows_per_tenant,
            records_per_tenant=data.records_per_tenant,
            now=now,
        )

    def start_jobs(self, replacing: RunningRelease | None = None) -> None:
        """The running release's scheduler, from its own declarations, run by the world."""
        running = self._running()
        self.world.run_jobs(Schedule.of(running.code.scheduler, running.settings), replacing)

    def worker_ready(self, pid: int) -> None:
        """A worker serves: gunicorn calls the deployment's ``post_worker_init`` hook."""
        self.conf.post_worker_init(worker_view(self.conf, pid))

    def deploy(self, deploy: Deploy) -> None:
        """The pipeline ships ``deploy``: a worker boots on the new release and takes the new
        requests, a new scheduler replaces the old one, and the old release's pool is let go once
        it has drained (at most the deployment's graceful timeout)."""
        old = self._running()
        self.world.log(release.deploy_started(deploy))

        def take_over() -> Any:
            code = release.load(self.deployed_root)
            settings = self.configure(code, deploy.to_version)
            self.world.release_loaded(code)
            self.running = self.boot(code, settings)
            self.start_jobs(replacing=old)
            return self.running.app

        def retire() -> None:
            release.dispose_silently(old.code.database.db)
            self.world.log(release.deploy_finished(deploy, self._running().settings.host_name))

        self.world.hand_over(take_over, retire, self.conf.graceful_timeout_s)

    def _running(self) -> RunningRelease:
        if self.running is None:
            raise RuntimeError("the service has not started")
        return self.running
