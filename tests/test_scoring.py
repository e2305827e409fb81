"""Automatic scoring of submissions: every faulty scenario's reference answer scores >= 90, the
empty answer <= 10, an answer blaming a decoy <= 40; partial credit orders answers sensibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interview.scoring import Submission, SubmissionError, load_submission, score
from interview.scoring.locations import function_span, relative_path
from obsim import scenario as scenarios
from obsim.scenario import Scenario
from obsim_cli.main import main

FAULTY = [s for s in scenarios.load_all() if s.faulty]


def reference(scenario: Scenario) -> Submission:
    return load_submission(scenario.directory / "reference_submission.json")


def part(result, name: str) -> float:
    return next(p.points for p in result.parts if p.name == name)


def test_every_faulty_scenario_ships_a_reference_and_a_paraphrase_submission():
    assert {s.id for s in FAULTY} >= {"connection-leak", "cron-storm"}
    for scenario in FAULTY:
        assert (scenario.directory / "reference_submission.json").is_file(), scenario.id
        assert (scenario.directory / "paraphrase_submission.json").is_file(), scenario.id


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_the_reference_submission_scores_at_least_90(scenario):
    result = score(scenario, reference(scenario))
    assert result.total >= 90, result.to_json()
    assert not result.penalties


def paraphrase(scenario: Scenario) -> Submission:
    return load_submission(scenario.directory / "paraphrase_submission.json")


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_a_correct_answer_in_other_words_scores_within_10_points_of_the_reference(scenario):
    """``paraphrase_submission.json`` is the right diagnosis as a candidate would write it: their own
    words, paths as a stack trace shows them, other queries.  Its mechanism alone is recognised."""
    result = score(scenario, paraphrase(scenario))
    assert abs(result.total - score(scenario, reference(scenario)).total) <= 10, result.to_json()
    assert not result.penalties
    mechanism_only = Submission(mechanism=paraphrase(scenario).mechanism)
    assert part(score(scenario, mechanism_only), "mechanism") == 15


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_each_mechanism_is_recognised_in_its_own_text(scenario):
    for mechanism in scenario.ground_truth.mechanisms:
        said = Submission(mechanism=mechanism.text)
        assert part(score(scenario, said), "mechanism") == 15, mechanism.text


SYMPTOMS = {
    "connection-leak": ["Requests are stuck waiting for a database connection.", "The database is slow."],
    "cron-storm": ["The database CPU is saturated at 10:00.", "The jobs are slow."],
    "memory-leak": [
        "Workers restart every ten minutes and requests get 502.",
        "The cache has a low hit ratio.",
    ],
    "n-plus-one-deploy": ["The 4.19.0 deploy made the workflow list slower."],
    "queue-backlog": ["Invitation emails never arrive.", "The outbox sender job is busy."],
    "redis-keys-scan": ["Redis is slow.", "Every endpoint got slower at 14:10."],
    "retry-storm": ["All worker threads are busy.", "The payment gateway is timing out."],
    "row-lock-contention": ["User updates time out with 504.", "The connection pool fills up."],
}


@pytest.mark.parametrize(("scenario_id", "said"), [(s, t) for s, texts in SYMPTOMS.items() for t in texts])
def test_a_symptom_is_not_the_mechanism(scenario_id, said):
    """What the candidate sees is not why it happens: at most the neighbouring account's half."""
    result = score(scenarios.load(scenario_id), Submission(mechanism=said))
    assert part(result, "mechanism") <= 7.5


def test_another_incidents_mechanism_earns_at_most_half():
    """The terms recognise this incident's mechanism, not any account of a failure: the mechanism
    another scenario's answers give (in either wording) is at most a neighbour here."""
    for scenario in FAULTY:
        kinds = {m.kind for m in scenario.ground_truth.mechanisms}
        for other in FAULTY:
            if kinds & {m.kind for m in other.ground_truth.mechanisms}:
                continue
            for answer in (reference(other), paraphrase(other)):
                said = Submission(mechanism=answer.mechanism)
                assert part(score(scenario, said), "mechanism") <= 7.5, (
                    scenario.id,
                    other.id,
                    said.mechanism,
                )


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_the_empty_submission_is_valid_and_scores_at_most_10(scenario, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    result = score(scenario, load_submission(empty))
    assert result.total <= 10
    assert all(p.points == 0 for p in result.parts)


@pytest.mark.parametrize(
    ("scenario", "decoy"),
    [(s, d) for s in FAULTY for d in s.ground_truth.decoys],
    ids=lambda item: getattr(item, "id", None) or item.description[:30],
)
def test_blaming_a_decoy_scores_at_most_40(scenario, decoy):
    """The reference's timing, evidence and mitigation kept, the cause swapped for the decoy: still low."""
    blaming = Submission.model_validate(
        {
            **reference(scenario).model_dump(mode="json"),
            "root_cause": f"The root cause is this: {decoy.description}.",
            "locations": [{"file": f, "lines": [1, 20]} for f in decoy.files],
            "mechanism": decoy.description,
            "causal_chain": [decoy.description],
            "fix": f"Fix the component behind this: {decoy.description}.",
        }
    )
    result = score(scenario, blaming)
    assert result.penalties, "blaming a decoy must be noticed"
    assert result.total <= 40, result.to_json()


def test_every_decoy_is_seen_even_without_code_locations():
    scenario = scenarios.load("connection-leak")
    decoy = scenario.ground_truth.decoys[0]
    result = score(scenario, Submission(root_cause="The validation service is down and failing."))
    assert result.penalties == [f"Blamed a decoy as the cause: {decoy.description}"]


@pytest.mark.parametrize(
    ("scenario", "flag"),
    [(s, f) for s in FAULTY for f in s.ground_truth.red_flags],
    ids=lambda item: getattr(item, "id", None) or item.description[:30],
)
def test_blaming_a_red_flag_of_the_guide_costs_as_a_decoy_does(scenario, flag):
    """The reference's timing, evidence and mitigation kept, the cause swapped for what the guide
    lists as a red flag ("the database is slow"): penalised and at most 40, like a decoy."""
    blaming = Submission.model_validate(
        {
            **reference(scenario).model_dump(mode="json"),
            "root_cause": f"The root cause is this: {flag.description}.",
            "locations": [],
            "mechanism": flag.description,
            "causal_chain": [flag.description],
            "fix": f"Fix this: {flag.description}.",
        }
    )
    result = score(scenario, blaming)
    assert result.penalties == [f"Blamed what the guide lists as a red flag: {flag.description}"]
    assert result.total <= 40, result.to_json()
    # the same words ruled out, or said beside the right code, cost nothing
    ruled_out = blaming.model_copy(update={"root_cause": f"It is not this: {flag.description}."})
    assert score(scenario, ruled_out).penalties == []
    beside = blaming.model_copy(update={"locations": reference(scenario).locations})
    assert score(scenario, beside).penalties == []


def test_the_guides_database_is_slow_costs_points_on_the_connection_leak():
    scenario = scenarios.load("connection-leak")
    said = Submission(root_cause="The database is slow.", locations=({"file": "lib/database/pool.py"},))
    plain = Submission(root_cause="Something else.", locations=({"file": "lib/database/pool.py"},))
    assert score(scenario, said).total == max(0.0, score(scenario, plain).total - 15)


def test_the_location_is_explained_in_plain_words():
    """What the candidate named and how near it is, not "file:function: right layer"."""
    scenario = scenarios.load("connection-leak")
    cause = scenario.ground_truth.root_causes[0]  # lib/database/transactions.py, transaction()
    named = score(scenario, Submission(locations=({"file": "lib/database/pool.py"},)))
    why = next(p.why for p in named.parts if p.name == "location")
    assert why.startswith("Named lib/database/pool.py — the right package (lib/database) but another file")
    assert f"the fault is in transactions.py, in {cause.function}()" in why
    exact = score(scenario, Submission(locations=({"file": cause.file, "lines": cause.lines},)))
    assert "the exact lines of the fault" in next(p.why for p in exact.parts if p.name == "location")
    for result in (named, exact):
        assert not any(": right layer" in p.why or ": exact lines" in p.why for p in result.parts)


def test_ruling_a_decoy_out_costs_nothing():
    scenario = scenarios.load("cron-storm")
    base = reference(scenario)
    ruled_out = base.model_copy(
        update={
            "root_cause": base.root_cause + " It is not the payment gateway, whose latency never changes."
        }
    )
    assert score(scenario, ruled_out).total == score(scenario, base).total


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_location_credit_falls_from_lines_to_function_to_file_to_layer(scenario):
    cause = scenario.ground_truth.root_causes[0]
    function = function_span(relative_path(cause.file), cause.function, cause.lines)
    assert function is not None, f"{cause.function} no longer contains lines {cause.lines} of {cause.file}"
    layer_file = str(Path(cause.file).parent / "no_such_module.py")
    answers = [
        {"file": cause.file, "lines": cause.lines},
        {"file": cause.file, "lines": (function[0], function[0])} if function[0] < cause.lines[0] else None,
        {"file": cause.file, "lines": None},
        {"file": layer_file, "lines": None},
        {"file": "platform_api/models/base.py", "lines": None},
    ]
    credits = [
        part(score(scenario, Submission(locations=({"file": a["file"], "lines": a["lines"]},))), "location")
        for a in answers
        if a is not None
    ]
    assert credits == sorted(credits, reverse=True) and len(set(credits)) == len(credits), credits
    assert credits[-1] == 0


def test_paths_are_read_as_the_browser_the_repo_or_a_stack_trace_shows_them():
    scenario = scenarios.load("connection-leak")
    cause = scenario.ground_truth.root_causes[0]
    inside = cause.file.removeprefix("platform_api/")
    written_forms = (cause.file, inside, f"/srv/platform-api/{cause.file}", f"./{inside}", f"./{cause.file}")
    for written in written_forms:
        result = score(scenario, Submission(locations=({"file": written, "lines": cause.lines},)))
        assert "the exact lines of the fault in transaction()" in result.parts[0].why, written


def test_a_range_around_the_fault_is_credited_as_such_not_called_its_exact_lines():
    scenario = scenarios.load("connection-leak")
    cause = scenario.ground_truth.root_causes[0]
    around = (cause.lines[0] - 5, cause.lines[1] + 1)
    result = score(scenario, Submission(locations=({"file": cause.file, "lines": around},)))
    exact = score(scenario, Submission(locations=({"file": cause.file, "lines": cause.lines},)))
    assert part(result, "location") == part(exact, "location") > 0
    assert (
        f"lines that take in the fault in transaction() ({cause.lines[0]}-{cause.lines[1]})"
        in result.parts[0].why
    )
    assert "exact lines" not in result.parts[0].why


def test_a_whole_file_range_is_not_exact_lines():
    scenario = scenarios.load("connection-leak")
    cause = scenario.ground_truth.root_causes[0]
    result = score(scenario, Submission(locations=({"file": cause.file, "lines": (1, 400)},)))
    assert "exact lines" not in result.parts[0].why


def test_scattering_locations_costs_a_point_per_wrong_place():
    scenario = scenarios.load("cron-storm")
    right = reference(scenario).locations
    scattered = right + tuple(
        {"file": f"services/data_service/{n}.py"} for n in ("stats", "usage", "reports")
    )
    alone = part(score(scenario, Submission(locations=right)), "location")
    result = score(scenario, Submission(locations=scattered))
    assert part(result, "location") == alone - 3, result.parts[0].why
    assert result.parts[0].why.endswith(
        "also named 3 places near no fault (−3 points): services/data_service/stats.py,"
        " services/data_service/usage.py, services/data_service/reports.py"
    ), result.parts[0].why


def test_the_right_place_among_wrong_ones_keeps_most_of_its_credit():
    """The right file among five (one fault): the four others cost a point each, capped at five
    points and at half of what was earned, rather than scaling the right answer down by 2/5."""
    scenario = scenarios.load("redis-keys-scan")  # one fault
    cause = scenario.ground_truth.root_causes[0]
    wrong = [{"file": f"services/data_service/{n}.py"} for n in ("stats", "usage", "reports", "export")]
    for named in ({"file": cause.file}, {"file": cause.file, "lines": cause.lines}):
        alone = part(score(scenario, Submission(locations=(named,))), "location")
        among_five = part(score(scenario, Submission(locations=(named, *wrong))), "location")
        assert among_five == max(alone - 4, alone / 2), (named, alone, among_five)
    exact = {"file": cause.file, "lines": cause.lines}
    spray = tuple({"file": f"services/data_service/m{n}.py"} for n in range(20))
    assert part(score(scenario, Submission(locations=(exact, *spray))), "location") == 30 - 5
    assert part(score(scenario, Submission(locations=spray)), "location") == 0
    near = {"file": str(Path(cause.file).parent / "no_such_module.py")}
    assert part(score(scenario, Submission(locations=(exact, near))), "location") == 30, (
        "a second place in the right package is near the fault, not wrong"
    )


def test_a_mitigation_offered_as_the_fix_earns_no_fix_points():
    scenario = scenarios.load("connection-leak")
    result = score(scenario, Submission(fix="Increase the pool size to 400 and restart the API."))
    fix = next(p for p in result.parts if p.name == "fix")
    assert fix.points == 0 and "Offered a mitigation as the fix" in fix.why
    real = score(scenario, Submission(fix="Roll back and close the session in a finally block."))
    assert part(real, "fix") == 15


def test_timing_credit_for_the_hourly_storm_and_the_leak_onset():
    storm, leak = scenarios.load("cron-storm"), scenarios.load("connection-leak")
    assert part(score(storm, Submission(repeats="hourly", starts_at="2026-03-10T11:01:00Z")), "timing") == 10
    assert part(score(storm, Submission(repeats="none", starts_at="2026-03-10T11:30:00Z")), "timing") == 0
    assert part(score(leak, Submission(repeats="none", starts_at="2026-03-10T14:22:00Z")), "timing") == 10
    assert part(score(leak, Submission(repeats="none", starts_at="2026-03-10T14:32:00Z")), "timing") == 7.5
    assert part(score(leak, Submission(repeats="hourly", starts_at="2026-03-10T15:30:00Z")), "timing") == 0


def test_timing_credit_for_a_fault_on_a_schedule_of_minutes():
    """row-lock-contention's saves stall each time the quarter-hourly job runs once the gateway is
    slow: "every few minutes" and "once", from 10:15, are both right; "every hour" is not."""
    locks = scenarios.load("row-lock-contention")
    assert part(score(locks, Submission(repeats="minutes", starts_at="2026-03-11T10:15:00Z")), "timing") == 10
    assert part(score(locks, Submission(repeats="none", starts_at="2026-03-11T10:16:00Z")), "timing") == 10
    assert part(score(locks, Submission(repeats="hourly", starts_at="2026-03-11T10:15:00Z")), "timing") == 5
    assert part(score(locks, Submission(repeats="minutes", starts_at="2026-03-11T10:45:00Z")), "timing") == 5


def test_the_mechanism_is_read_from_the_text_and_a_neighbouring_account_earns_half():
    leak = scenarios.load("connection-leak")
    said = {
        "Sessions are never closed when the validation call fails, so their connections leak.": 15,
        "The connection pool is exhausted while the database is idle.": 7.5,
        "All connections are checked out and requests are stuck waiting for one.": 7.5,
        "The validation service is slow and the API waits on it.": 0,
    }
    for text, points in said.items():
        assert part(score(leak, Submission(mechanism=text)), "mechanism") == points, text
    in_the_cause = Submission(
        root_cause="Each failed call leaves its transaction open, holding a connection."
    )
    assert part(score(leak, in_the_cause), "mechanism") == 15, (
        "a mechanism explained in the root cause counts"
    )


def test_a_stored_submission_with_a_mechanism_picked_from_the_former_list_still_reads_and_scores():
    """Before the mechanism was free text the form stored a taxonomy id, or null when none was picked."""
    leak = scenarios.load("connection-leak")
    stored = {**reference(leak).model_dump(mode="json"), "mechanism": "resource-leak"}
    assert Submission.model_validate(stored).mechanism == "resource-leak"
    assert score(leak, Submission.model_validate(stored)).total >= 90
    unpicked = Submission.model_validate({"root_cause": "Leaked transactions", "mechanism": None})
    assert unpicked.mechanism == "" and part(score(leak, unpicked), "mechanism") == 15, "read in the cause"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[]", "a JSON object"),
        ("{not json", "not a readable JSON"),
        ('{"repeats": "weekly"}', "repeats"),
        ('{"locations": [{"file": "x.py", "lines": [9, 3]}]}', "locations.0.lines"),
        ('{"starts_at": "2026-03-10T14:20:00"}', "UTC"),
        ('{"root_cause": "x", "blame": "Bob"}', "blame"),
        ('{"confidence": 3}', "confidence"),
    ],
)
def test_a_malformed_submission_is_refused_naming_the_field(tmp_path, content, says):
    path = tmp_path / "submission.json"
    path.write_text(content)
    with pytest.raises(SubmissionError, match=says):
        load_submission(path)


def test_obsim_score_prints_the_score_as_json(capsys):
    scenario = scenarios.load("connection-leak")
    code = main(
        ["score", "connection-leak", "--submission", str(scenario.directory / "reference_submission.json")]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"] >= 90 and printed["scenario"] == "connection-leak"
    assert {p["name"] for p in printed["parts"]} == {
        "location",
        "mechanism",
        "timing",
        "causal_chain",
        "evidence",
        "fix",
        "mitigation",
    }
    assert sum(p["max"] for p in printed["parts"]) == 100


def test_obsim_score_refuses_a_control_scenario_and_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"repeats": "weekly"}')
    assert main(["score", "connection-leak", "--submission", str(bad)]) == 2
    assert "repeats" in capsys.readouterr().err
    assert main(["score", "baseline", "--submission", str(bad)]) == 2
    assert "nothing to score" in capsys.readouterr().err


@pytest.mark.parametrize("scenario", FAULTY, ids=lambda s: s.id)
def test_in_an_interview_only_evidence_actually_on_screen_counts(scenario):
    submission = reference(scenario)
    cited = {item.view for item in submission.evidence}
    assert len(cited) >= 2
    full = part(score(scenario, submission, on_screen=cited), "evidence")
    assert full == part(score(scenario, submission), "evidence") > 0
    one = sorted(cited)[0]
    partial = score(scenario, submission, on_screen={one})
    assert 0 < part(partial, "evidence") < full
    assert "without ever having their signal on screen" in next(
        p.why for p in partial.parts if p.name == "evidence"
    )
    assert part(score(scenario, submission, on_screen=set()), "evidence") == 0


@pytest.mark.parametrize("found", ["cron-storm", "connection-leak"])
def test_an_incident_with_two_roots_is_scored_by_the_best_match_of_each(found):
    """storm-and-leak has both founding faults: a perfect account of one of them is half the answer."""
    both = scenarios.load("storm-and-leak")
    result = score(both, reference(scenarios.load(found)))
    parts = {part.name: part for part in result.parts}
    assert parts["location"].points == parts["location"].max / 2
    assert parts["fix"].points == parts["fix"].max / 2, parts["fix"].why
    assert parts["mechanism"].points == parts["mechanism"].max  # the best of the two mechanisms
    assert parts["timing"].points >= parts["timing"].max / 2
    assert 55 <= result.total <= 75, result.to_json()
    assert score(both, reference(both)).total >= 90


REVIEW_SUBMISSION = Path(__file__).parent / "fixtures" / "cron_storm_review_submission.json"


def test_a_job_named_like_a_decoy_does_not_charge_the_decoy():
    """The 2026-12-07 interviewer review: a cron-storm answer naming the job
    ``generate_usage_reports`` (never the /reports/summary endpoint) lost 15 points for "blaming"
    that endpoint.  Decoys are charged only when named as words, not inside an identifier."""
    cron_storm = scenarios.load("cron-storm")
    submission = load_submission(REVIEW_SUBMISSION)
    assert "generate_usage_reports" in submission.root_cause
    assert "reports/summary" not in submission.root_cause
    assert score(cron_storm, submission).penalties == []
    blaming = submission.model_copy(
        # without the real code found: naming a decoy beside the right code costs nothing
        update={"root_cause": "The reports/summary endpoint is slow and stalls the API.", "locations": ()}
    )
    assert any("reports/summary" in p for p in score(cron_storm, blaming).penalties)
