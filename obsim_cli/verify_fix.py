"""Does a proposed patch fix the incident?  Re-run the scenario with it and compare the symptoms.

A scenario's readiness checks are its symptoms stated as figures (the pool reaches its maximum,
latency at hh:00 is ten times the rest of the hour, ...).  The unpatched run must show every one of
them; a patch fixes the incident when its run shows none.  Interviewer side only: it executes the
candidate's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from obsim.dataset.reader import Dataset
from obsim.scenario import Readiness, Scenario, ScenarioError
from obsim.symptom_figures import Figures, compute, readiness_failures


@dataclass(frozen=True)
class Symptom:
    check: Readiness
    before: float
    after: float
    shown_before: bool
    shown_after: bool

    @property
    def label(self) -> str:
        bounds = [
            f">= {self.check.min:g}" if self.check.min is not None else "",
            f"<= {self.check.max:g}" if self.check.max is not None else "",
        ]
        return f"{self.check.figure} {' and '.join(b for b in bounds if b)}"


@dataclass(frozen=True)
class Verdict:
    before: Figures
    after: Figures
    symptoms: tuple[Symptom, ...]

    @property
    def fixed(self) -> bool:
        return all(s.shown_before for s in self.symptoms) and not any(s.shown_after for s in self.symptoms)


def _figures(path: Path) -> Figures:
    with Dataset.open(path) as dataset:
        return compute(dataset.connection)


def verify_fix(scenario: Scenario, patch_file: Path, seed: int | None = None) -> Verdict:
    """Generate the scenario with and without ``patch_file`` (each cached) and compare."""
    from obsim_cli.generate import generate

    if not scenario.faulty or not scenario.readiness:
        raise ScenarioError(f"{scenario.id} has no incident (no symptom checks) to verify a fix against")
    before = _figures(generate(scenario, seed=seed, quiet=True).path)
    after = _figures(generate(scenario, seed=seed, patch_file=patch_file, quiet=True).path)
    symptoms = tuple(
        Symptom(
            check,
            before.value(check.figure),
            after.value(check.figure),
            shown_before=not readiness_failures((check,), before),
            shown_after=not readiness_failures((check,), after),
        )
        for check in scenario.readiness
    )
    return Verdict(before, after, symptoms)


def report(verdict: Verdict) -> str:
    """The comparison as a table an interviewer reads at a glance."""
    lines = [f"{'symptom (scenario check)':40} {'before':>14} {'after':>14}"]
    for s in verdict.symptoms:
        mark = {True: "shown", False: "gone"}
        lines.append(
            f"{s.label:40} {s.before:8.3g} {mark[s.shown_before]:>5} {s.after:8.3g} {mark[s.shown_after]:>5}"
        )
    b, a = verdict.before, verdict.after
    rows = [
        ("requests", f"{b.requests:,}", f"{a.requests:,}"),
        ("5xx share", f"{b.server_error_ratio:.2%}", f"{a.server_error_ratio:.2%}"),
        ("pool peak", f"{b.peak_pool_used:.0f}/{b.pool_max:.0f}", f"{a.peak_pool_used:.0f}/{a.pool_max:.0f}"),
        ("pool timeouts", f"{b.pool_timeouts:.0f}", f"{a.pool_timeouts:.0f}"),
        (
            "idle in transaction peak",
            f"{b.peak_idle_in_transaction:.0f}",
            f"{a.peak_idle_in_transaction:.0f}",
        ),
        ("DB CPU peak", f"{b.peak_db_cpu:.0%}", f"{a.peak_db_cpu:.0%}"),
        ("request queue peak", f"{b.peak_request_queue:.0f}", f"{a.peak_request_queue:.0f}"),
    ]
    lines.append("")
    lines += [f"{name:40} {old:>14} {new:>14}" for name, old, new in rows]
    lines.append("")
    lines.append(
        "verdict: the patch removes every symptom" if verdict.fixed else "verdict: the symptoms are NOT gone"
    )
    return "\n".join(lines)
