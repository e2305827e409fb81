"""An interview day: one server for every faulty scenario of the library, each served as soon as its
dataset is ready, the others prepared in the background from the console.

A scenario is ready when its dataset (default seed, this code) is in the cache: the same test as
``obsim list``.  The cache path of each scenario is computed once per process (hashing the code
reads every source file), so looking a scenario up on a request costs one ``stat``.  A dataset that
another process finished (``obsim generate --all``, another gunicorn worker's preparation) is found
by that same look-up, so every worker starts serving it on its next request.

A preparation runs ``obsim_cli.generate`` (a subprocess) on a thread of this process: the server
keeps answering meanwhile, and the console shows how long each preparation has run, how much of the
scenario's window it has simulated (as the generation reports it) and how it ended.  Preparations are
kept in this process only: under several workers, the console answered by another worker shows the
scenario as not ready until the dataset is published.

``obsim run SCENARIO`` on a cold cache is a day of that one scenario (at the run's seed), its
preparation started at launch: the console and the candidate link answer at once, the candidate's
link a page saying the environment is being set up until the dataset is ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from obsim.dataset.schema import MANIFEST_NAME
from obsim.scenario import Scenario


@dataclass
class Preparation:
    """One background generation: when it started, and when and how it ended."""

    started: float
    finished: float | None = None
    error: str | None = None
    progress: float = 0.0  # the share of the window simulated, as the generation last reported it

    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started


class Generation(Protocol):
    """Where a scenario's dataset is kept, and how it is made: the entry layer's cache and
    generation, handed in so the UI never imports them."""

    def dataset_path(self, scenario: Scenario, seed: int | None) -> Path: ...

    def generate(self, scenario: Scenario, seed: int | None, progress: Callable[[float], None]) -> object: ...


class Day:
    """The scenarios of an interview day, where each one's dataset is or will be, and what is being
    prepared; each at ``seed`` when given, else at its own default seed."""

    def __init__(
        self, incidents: Sequence[Scenario], generation: Generation, seed: int | None = None
    ) -> None:
        self.generation = generation
        self.scenarios = {
            incident.id: incident for incident in incidents if incident.ground_truth is not None
        }
        self.seed = seed
        self._paths = {
            incident.id: generation.dataset_path(incident, seed) for incident in self.scenarios.values()
        }
        self._lock = threading.Lock()
        self.preparations: dict[str, Preparation] = {}
        self._when_ready: list[Callable[[Path], None]] = []

    def when_ready(self, callback: Callable[[Path], None]) -> None:
        """Have ``callback`` called with each dataset a preparation of this process publishes (the
        server's metric preload, as a dataset ready at start-up gets)."""
        self._when_ready.append(callback)

    def dataset(self, scenario_id: str) -> Path | None:
        """The scenario's dataset when it is ready, else None."""
        path = self._paths.get(scenario_id)
        return path if path is not None and (path / MANIFEST_NAME).is_file() else None

    def under_way(self, scenario_id: str) -> Preparation | None:
        """The scenario's preparation while it runs in this process, else None."""
        preparation = self.preparations.get(scenario_id)
        return preparation if preparation is not None and preparation.finished is None else None

    def pending(self) -> set[Path]:
        """Where the datasets of this day's scenarios not ready yet will be published."""
        return {path for scenario_id, path in self._paths.items() if self.dataset(scenario_id) is None}

    def prepare(self, scenario_id: str) -> bool:
        """Start generating the scenario's dataset in the background; False when it is already
        ready or under way in this process."""
        with self._lock:
            if self.dataset(scenario_id) is not None or self.under_way(scenario_id) is not None:
                return False
            self.preparations[scenario_id] = Preparation(time.time())
        threading.Thread(
            target=self._generate, args=(scenario_id,), name=f"prepare-{scenario_id}", daemon=True
        ).start()
        return True

    def _generate(self, scenario_id: str) -> None:
        preparation = self.preparations[scenario_id]

        def reported(fraction: float) -> None:
            preparation.progress = fraction

        try:
            self.generation.generate(self.scenarios[scenario_id], self.seed, reported)
        except Exception as error:  # shown in the console: never left "preparing" for ever
            preparation.error = str(error) or type(error).__name__
        else:
            for callback in self._when_ready:
                callback(self._paths[scenario_id])
        preparation.finished = time.time()
