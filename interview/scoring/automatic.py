"""The automatic part of an interview's score: a submission against the scenario's ground truth.

Out of 100, with partial credit in every part, and every figure explained in ``why`` so an
interviewer can audit it:

- location (30): for each root cause, the best of the submitted locations (exact lines > right
  function > right file > right layer); each extra place near no fault costs a point (at most
  five, and at most half the credit earned), so the right place among wrong ones keeps most credit;
- mechanism (15): the mechanism recognised by its key terms in the mechanism, root cause and chain
  text (the candidate writes it, never picks it), half credit for a neighbouring account;
- timing (10): whether and how it repeats, and when it starts (or the minute it recurs at);
- causal chain (15): the chain's steps recognised in the root cause and chain text;
- evidence (10): the views the ground truth's evidence lives in that the candidate cites (in an
  interview, only those whose signal their recorded investigation actually showed);
- fix (15): a lasting fix recognised in the fix text; a mitigation offered as the fix earns nothing;
- mitigation (5): an immediate mitigation recognised in the mitigation text.

Blaming a decoy costs 15 points (at most 30): pointing at its code, or naming it as the cause
without finding the real one; so does naming as the cause what the interview guide lists as a red
flag (``red_flags`` in the ground truth, e.g. "the database is slow" while its CPU idles).  Every
``why`` is written for a hiring manager: what the candidate said or named, and how near the answer.  The interviewer's rubric is scored separately, by a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from interview.scoring.locations import closeness, relative_path
from interview.scoring.matching import affirmed, blames, matches, normalise
from interview.scoring.submission import Location, Submission
from obsim.scenario import CodeLocation, GroundTruth, Mechanism, Scenario, Statement, Timing

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
WRONG_PLACE_COST = 1 / 30  # of the location part: a point for each place named near no fault
MAX_WRONG_PLACES_COST = 5 / 30  # at most five points, and never more than half the credit earned
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
    investigation actually showed (``interview.scoring.evidence.evidence_seen``): a cited view then
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
    penalties = _blamed(truth, submission, location_credit)
    deducted = min(MAX_PENALTY, DECOY_PENALTY * len(penalties))
    total = max(0.0, sum(part.points for part in parts) - deducted)
    return Score(scenario.id, scenario.version, round(total, 1), parts, penalties)


def _part(name: str, share: float, why: str) -> Part:
    return Part(name, round(WEIGHTS[name] * share, 1), WEIGHTS[name], why)


def _location(truth: GroundTruth, submission: Submission) -> Part:
    if not submission.locations:
        return _part("location", 0.0, "Named no code location")
    found = []
    for cause in truth.root_causes:
        best, (level, credit) = max(
            ((location, closeness(location, cause)) for location in submission.locations),
            key=lambda pair: pair[1][1],
        )
        found.append((credit, _named(best, level, cause, submission.locations)))
    share = sum(credit for credit, _ in found) / len(found)
    why = "; ".join(text for _, text in found)
    wrong = _wrong_extras(truth, submission.locations)
    if wrong and share > 0:
        deduction = min(WRONG_PLACE_COST * len(wrong), MAX_WRONG_PLACES_COST, share / 2)
        share -= deduction
        why += (
            f"; also named {_count(len(wrong), 'place')} near no fault"
            f" (−{round(WEIGHTS['location'] * deduction, 1):g} points): {', '.join(map(_place, wrong))}"
        )
    return _part("location", share, why)


def _wrong_extras(truth: GroundTruth, locations: tuple[Location, ...]) -> list[Location]:
    """The places beyond one per fault that are near no fault at all, in the order named: naming
    the right file among five costs a little for each of the four others, never the credit for
    the right one."""
    wrong = [
        place for place in locations if all(closeness(place, cause)[1] == 0 for cause in truth.root_causes)
    ]
    return wrong[: max(0, len(locations) - len(truth.root_causes))]


def _named(best: Location, level: str, cause: CodeLocation, locations: tuple[Location, ...]) -> str:
    """What the candidate named for one root cause and how near it is, in words a hiring manager
    reads ("Named pool.py — the right package, lib/database, but the fault is in transactions.py,
    in transaction()")."""
    fault = (
        f"{PurePosixPath(cause.file).name}, in {cause.function}() (lines {cause.lines[0]}-{cause.lines[1]})"
    )
    named = _place(best)
    if level == "exact lines" and best.lines == cause.lines:
        return f"Named {named} — the exact lines of the fault in {cause.function}()"
    if level == "exact lines":
        return f"Named {named} — lines that take in the fault in {cause.function}() ({cause.lines[0]}-{cause.lines[1]})"
    if level == "right function":
        return f"Named {named} — the right function, {cause.function}(), though not the exact lines ({cause.lines[0]}-{cause.lines[1]})"
    if level == "right file":
        return f"Named {named} — the right file; the fault is in {cause.function}(), lines {cause.lines[0]}-{cause.lines[1]}"
    if level == "right layer":
        package = PurePosixPath(relative_path(cause.file)).parent
        return f"Named {named} — the right package ({package}) but another file: the fault is in {fault}"
    others = ", ".join(_place(location) for location in locations[:3]) + (" …" if len(locations) > 3 else "")
    return (
        f"Nothing named near the fault in {relative_path(cause.file)}, in {cause.function}() (named {others})"
    )


def _place(location: Location) -> str:
    path = relative_path(location.file)
    return f"{path} lines {location.lines[0]}-{location.lines[1]}" if location.lines else path


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _mechanism(truth: GroundTruth, submission: Submission) -> Part:
    text = normalise([submission.mechanism, submission.root_cause, *submission.causal_chain])
    return max((_one_mechanism(each, text) for each in truth.mechanisms), key=_points)


def _one_mechanism(mechanism: Mechanism, text: str) -> Part:
    """Full credit when ``text`` (the mechanism, root cause and chain together, since a candidate
    may explain how it fails anywhere in them) says how it works, half for the neighbouring account.
    No sentence is dropped for a negation, as decoys' are: mechanisms are told with them ("the
    connection is not returned", "never evicted")."""
    if not text:
        return _part("mechanism", 0.0, "Described no mechanism")
    if matches(text, mechanism.terms):
        return _part("mechanism", 1.0, f"Explained how it fails: {mechanism.text}")
    if matches(text, mechanism.partial):
        return _part(
            "mechanism",
            0.5,
            f"Half: described what it looks like, not why it happens, which is: {mechanism.text}",
        )
    return _part("mechanism", 0.0, f"Did not explain how it fails, which is: {mechanism.text}")


def _timing(truth: GroundTruth, submission: Submission) -> Part:
    return max((_one_timing(each, submission) for each in truth.timings), key=_points)


def _points(part: Part) -> float:
    return part.points


REPEATS = {
    "none": "happens once",
    "minutes": "repeats every few minutes",
    "hourly": "repeats every hour",
    "daily": "repeats every day",
}


def _one_timing(timing: Timing, submission: Submission) -> Part:
    share, notes = 0.0, []
    if submission.repeats == timing.repeats:
        share += 0.5
        notes.append(f"Said it {REPEATS[timing.repeats]}: right")
    elif submission.repeats is None:
        notes.append(f"Did not say whether it repeats (it {REPEATS[timing.repeats]})")
    else:
        notes.append(f"Said it {REPEATS[submission.repeats]}, but it {REPEATS[timing.repeats]}")
    moment = submission.starts_at
    if moment is None:
        notes.append("gave no start time")
    elif timing.repeats == "hourly":
        off = abs(moment.minute - (timing.at_minute or 0))
        if min(off, 60 - off) <= MINUTE_TOLERANCE:
            share += 0.5
            notes.append(f"at minute {timing.at_minute:02d} of the hour: right")
        else:
            notes.append(f"said minute {moment.minute:02d} of the hour, but it is {timing.at_minute:02d}")
    elif timing.onset is not None:
        off_s = abs((moment - timing.onset).total_seconds())
        if off_s <= ONSET_TOLERANCE_S:
            share += 0.5
            notes.append(f"said it starts at {_hhmm(moment)}: right")
        elif off_s <= 3 * ONSET_TOLERANCE_S:
            share += 0.25
            notes.append(f"said it starts at {_hhmm(moment)}: close to {_hhmm(timing.onset)} (half)")
        else:
            notes.append(f"said it starts at {_hhmm(moment)}, but it starts about {_hhmm(timing.onset)}")
    return _part("timing", share, "; ".join(notes))


def _causal_chain(truth: GroundTruth, submission: Submission) -> Part:
    text = normalise([submission.root_cause, *submission.causal_chain])
    hits = [step for step in truth.causal_chain if matches(text, step.terms)]
    missed = [step.text for step in truth.causal_chain if step not in hits]
    why = f"Explained {len(hits)} of the {len(truth.causal_chain)} steps from trigger to outage"
    if missed:
        why += "; missing: " + "; ".join(missed)
    return _part("causal_chain", len(hits) / len(truth.causal_chain), why)


def _evidence(truth: GroundTruth, submission: Submission, on_screen: set[str] | None) -> Part:
    """Told in words, without a count of its own: the session page's one evidence count is the
    figures' "evidence seen" (signals the candidate had on screen)."""
    expected = {item.view for item in truth.evidence}
    cited = {item.view for item in submission.evidence} & expected
    unseen = cited - on_screen if on_screen is not None else set()
    counted = cited - unseen
    why = (
        f"Cited the {_views(counted)} where the evidence shows"
        if counted
        else "Cited none of the views where the evidence shows"
    )
    if expected - cited:
        why += f"; not the {_views(expected - cited)}"
    if unseen:
        why += f"; cited the {_views(unseen)} without ever having their signal on screen (not counted)"
    return _part("evidence", len(counted) / len(expected), why)


def _views(views: set[str]) -> str:
    names = sorted(views)
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{listed} view" + ("s" if len(names) > 1 else "")


def _remedies(truth: GroundTruth, submission: Submission) -> list[Part]:
    fix_text = normalise([submission.fix])
    fixes = _recognised(truth.fixes, fix_text)
    roots = {statement.root for statement in truth.fixes}
    if fixes and len(roots) > 1:
        fixed = {statement.root for statement in truth.fixes if statement.text in fixes}
        fix = _part(
            "fix",
            len(fixed) / len(roots),
            f"Proposed a lasting fix for {len(fixed)} of the {len(roots)} causes: " + "; ".join(fixes),
        )
    elif fixes:
        fix = _part("fix", 1.0, "Proposed a lasting fix: " + "; ".join(fixes))
    elif _recognised(truth.mitigations, fix_text):
        fix = _part(
            "fix", 0.0, "Offered a mitigation as the fix: it relieves the symptom, it does not fix it"
        )
    else:
        fix = _part("fix", 0.0, "Proposed no lasting fix that is recognised")
    mitigations = _recognised(truth.mitigations, normalise([submission.mitigation]))
    mitigation = _part(
        "mitigation",
        1.0 if mitigations else 0.0,
        "Proposed an immediate mitigation: " + "; ".join(mitigations)
        if mitigations
        else "Proposed no immediate mitigation that is recognised",
    )
    return [fix, mitigation]


def _recognised(statements: tuple[Statement, ...], text: str) -> list[str]:
    return [statement.text for statement in statements if matches(text, statement.terms)]


def _blamed(truth: GroundTruth, submission: Submission, location_credit: float) -> list[str]:
    """Decoys and red flags the submission blames: a decoy's code among its locations, or a decoy or
    a red flag of the guide named as the cause when the real code was not found (mentioning one
    while explaining the real cause costs nothing)."""
    files = {relative_path(location.file) for location in submission.locations}
    cause_text = affirmed(normalise([submission.root_cause]))
    named = location_credit < 0.35
    blamed = []
    for decoy in truth.decoys:
        if files & {relative_path(path) for path in decoy.files}:
            blamed.append(f"Blamed a decoy, pointing at its code: {decoy.description}")
        elif named and blames(cause_text, decoy.terms):
            blamed.append(f"Blamed a decoy as the cause: {decoy.description}")
    for flag in truth.red_flags:
        if named and blames(cause_text, flag.terms):
            blamed.append(f"Blamed what the guide lists as a red flag: {flag.description}")
    return blamed


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M UTC")
