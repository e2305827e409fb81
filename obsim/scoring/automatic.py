"""The automatic part of an interview's score: a submission against the scenario's ground truth.

Out of 100, with partial credit in every part, and every figure explained in ``why`` so an
interviewer can audit it:

- location (30): for each root cause, the best of the submitted locations (exact lines > right
  function > right file > right layer); a scatter of many locations is scaled down;
- mechanism (15): the mechanism recognised by its key terms in the mechanism, root cause and chain
  text (the candidate writes it, never picks it), half credit for a neighbouring account;
- timing (10): whether and how it repeats, and when it starts (or the minute it recurs at);
- causal chain (15): the chain's steps recognised in the root cause and chain text;
- evidence (10): the views the ground truth's evidence lives in that the candidate cites (in an
  interview, only those whose signal their recorded investigation actually showed);
- fix (15): a lasting fix recognised in the fix text; a mitigation offered as the fix earns nothing;
- mitigation (5): an immediate mitigation recognised in the mitigation text.

Blaming a decoy costs 15 points (at most 30): pointing at its code, or naming it as the cause
without finding the real one.  The interviewer's rubric is scored separately, by a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from obsim.scenario import GroundTruth, Mechanism, Scenario, Statement, Timing
from obsim.scoring.locations import closeness, relative_path
from obsim.scoring.matching import affirmed, matches, normalise
from obsim.scoring.submission import Submission

WEIGHTS = {
    "location": 30,
    "mechanism": 15,
    "timing": 10,
    "causal_chain": 15,
    "evidence": 10,
    "fix": 15,
    "mitigation": 5,
}
DECOY_PENALTY = 15
MAX_PENALTY = 30
ONSET_TOLERANCE_S = 300
MINUTE_TOLERANCE = 3


@dataclass(frozen=True)
class Part:
    name: str
    points: float
    max: int
    why: str


@dataclass
class Score:
    scenario: str
    scenario_version: int
    total: float
    parts: list[Part] = field(default_factory=list)
    penalties: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def score(scenario: Scenario, submission: Submission, on_screen: set[str] | None = None) -> Score:
    """Score ``submission`` against ``scenario``'s ground truth (which a faulty scenario has).

    In an interview, ``on_screen`` is the views whose evidence the candidate's recorded
    investigation actually showed (``obsim.scoring.evidence.evidence_seen``): a cited view then
    counts only if they looked at its signal.  Without it (a submission file) citations count.
    """
    truth = scenario.ground_truth
    if truth is None:
        raise ValueError(f"scenario {scenario.id} has no ground truth to score against")
    parts = [
        _location(truth, submission),
        _mechanism(truth, submission),
        _timing(truth, submission),
        _causal_chain(truth, submission),
        _evidence(truth, submission, on_screen),
        *_remedies(truth, submission),
    ]
    location_credit = parts[0].points / parts[0].max
    penalties = _decoys_blamed(truth, submission, location_credit)
    deducted = min(MAX_PENALTY, DECOY_PENALTY * len(penalties))
    total = max(0.0, sum(part.points for part in parts) - deducted)
    return Score(scenario.id, scenario.version, round(total, 1), parts, penalties)


def _part(name: str, share: float, why: str) -> Part:
    return Part(name, round(WEIGHTS[name] * share, 1), WEIGHTS[name], why)


def _location(truth: GroundTruth, submission: Submission) -> Part:
    if not submission.locations:
        return _part("location", 0.0, "no code location given")
    found = []
    for cause in truth.root_causes:
        level, credit = max(
            (closeness(location, cause) for location in submission.locations), key=lambda pair: pair[1]
        )
        found.append((credit, f"{relative_path(cause.file)}:{cause.function}: {level}"))
    share = sum(credit for credit, _ in found) / len(found)
    allowed = len(truth.root_causes) + 1
    why = "; ".join(text for _, text in found)
    if len(submission.locations) > allowed:
        share *= allowed / len(submission.locations)
        why += f"; {len(submission.locations)} locations given for {len(truth.root_causes)} causes (scaled)"
    return _part("location", share, why)


def _mechanism(truth: GroundTruth, submission: Submission) -> Part:
    text = normalise([submission.mechanism, submission.root_cause, *submission.causal_chain])
    return max((_one_mechanism(each, text) for each in truth.mechanisms), key=_points)


def _one_mechanism(mechanism: Mechanism, text: str) -> Part:
    """Full credit when ``text`` (the mechanism, root cause and chain together, since a candidate
    may explain how it fails anywhere in them) says how it works, half for the neighbouring account.
    No sentence is dropped for a negation, as decoys' are: mechanisms are told with them ("the
    connection is not returned", "never evicted")."""
    if not text:
        return _part("mechanism", 0.0, "no mechanism described")
    if matches(text, mechanism.terms):
        return _part("mechanism", 1.0, f"{mechanism.kind}: recognised")
    if matches(text, mechanism.partial):
        return _part("mechanism", 0.5, f"a neighbour of {mechanism.kind}: {mechanism.text} (half)")
    return _part("mechanism", 0.0, f"{mechanism.kind} not recognised: {mechanism.text}")


def _timing(truth: GroundTruth, submission: Submission) -> Part:
    return max((_one_timing(each, submission) for each in truth.timings), key=_points)


def _points(part: Part) -> float:
    return part.points


def _one_timing(timing: Timing, submission: Submission) -> Part:
    share, notes = 0.0, []
    if submission.repeats == timing.repeats:
        share += 0.5
        notes.append(f"repeats {timing.repeats}: right")
    else:
        notes.append(f"repeats {submission.repeats or 'not said'}, expected {timing.repeats}")
    moment = submission.starts_at
    if moment is None:
        notes.append("no start time")
    elif timing.repeats == "hourly":
        off = abs(moment.minute - (timing.at_minute or 0))
        if min(off, 60 - off) <= MINUTE_TOLERANCE:
            share += 0.5
            notes.append(f"at minute {timing.at_minute}: right")
        else:
            notes.append(f"at minute {moment.minute}, expected {timing.at_minute}")
    elif timing.onset is not None:
        off_s = abs((moment - timing.onset).total_seconds())
        if off_s <= ONSET_TOLERANCE_S:
            share += 0.5
            notes.append(f"starts {_hhmm(timing.onset)}: right")
        elif off_s <= 3 * ONSET_TOLERANCE_S:
            share += 0.25
            notes.append(f"starts {_hhmm(moment)}, close to {_hhmm(timing.onset)}")
        else:
            notes.append(f"starts {_hhmm(moment)}, expected about {_hhmm(timing.onset)}")
    return _part("timing", share, "; ".join(notes))


def _causal_chain(truth: GroundTruth, submission: Submission) -> Part:
    text = normalise([submission.root_cause, *submission.causal_chain])
    hits = [step for step in truth.causal_chain if matches(text, step.terms)]
    missed = [step.text for step in truth.causal_chain if step not in hits]
    why = f"{len(hits)} of {len(truth.causal_chain)} steps"
    if missed:
        why += "; missing: " + " | ".join(missed)
    return _part("causal_chain", len(hits) / len(truth.causal_chain), why)


def _evidence(truth: GroundTruth, submission: Submission, on_screen: set[str] | None) -> Part:
    expected = {item.view for item in truth.evidence}
    cited = {item.view for item in submission.evidence} & expected
    why = f"cites {', '.join(sorted(cited)) or 'none'} of {', '.join(sorted(expected))}"
    if on_screen is not None and cited - on_screen:
        why += f"; never had the signal on screen in {', '.join(sorted(cited - on_screen))}"
        cited &= on_screen
    return _part("evidence", len(cited) / len(expected), why)


def _remedies(truth: GroundTruth, submission: Submission) -> list[Part]:
    fix_text = normalise([submission.fix])
    fixes = _recognised(truth.fixes, fix_text)
    roots = {statement.root for statement in truth.fixes}
    if fixes and len(roots) > 1:
        fixed = {statement.root for statement in truth.fixes if statement.text in fixes}
        fix = _part(
            "fix", len(fixed) / len(roots), f"fixes {len(fixed)} of {len(roots)} roots: " + " | ".join(fixes)
        )
    elif fixes:
        fix = _part("fix", 1.0, "recognised: " + " | ".join(fixes))
    elif _recognised(truth.mitigations, fix_text):
        fix = _part("fix", 0.0, "the proposed fix is a mitigation, not a fix")
    else:
        fix = _part("fix", 0.0, "no lasting fix recognised")
    mitigations = _recognised(truth.mitigations, normalise([submission.mitigation]))
    mitigation = _part(
        "mitigation",
        1.0 if mitigations else 0.0,
        "recognised: " + " | ".join(mitigations) if mitigations else "no immediate mitigation recognised",
    )
    return [fix, mitigation]


def _recognised(statements: tuple[Statement, ...], text: str) -> list[str]:
    return [statement.text for statement in statements if matches(text, statement.terms)]


def _decoys_blamed(truth: GroundTruth, submission: Submission, location_credit: float) -> list[str]:
    """Decoys the submission blames: their code among its locations, or named as the cause when the
    real code was not found (mentioning a decoy while explaining the real cause costs nothing)."""
    files = {relative_path(location.file) for location in submission.locations}
    cause_text = affirmed(normalise([submission.root_cause]))
    blamed = []
    for decoy in truth.decoys:
        if files & {relative_path(path) for path in decoy.files}:
            blamed.append(f"points at the code of a decoy: {decoy.description}")
        elif location_credit < 0.35 and matches(cause_text, decoy.terms):
            blamed.append(f"names a decoy as the cause: {decoy.description}")
    return blamed


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M UTC")
