"""obsim verify-fix: the reference fix removes every symptom; a fix for another incident does not."""

from __future__ import annotations

import pytest

from obsim import scenario as scenarios
from obsim_cli.main import main
from obsim_cli.verify_fix import verify_fix

pytestmark = pytest.mark.slow


def test_the_reference_fix_removes_every_symptom(datasets, capsys):
    for run in ("connection-leak", "connection-leak-fixed"):  # wait for the session's own generation
        assert datasets[run].is_dir()
    leak = scenarios.load("connection-leak")
    verdict = verify_fix(leak, scenarios.fix_patch(leak))
    assert verdict.fixed
    assert all(s.shown_before and not s.shown_after for s in verdict.symptoms)
    assert verdict.after.peak_idle_in_transaction < verdict.before.peak_idle_in_transaction
    assert main(["verify-fix", "connection-leak", str(scenarios.fix_patch(leak))]) == 0
    printed = capsys.readouterr().out
    assert "verdict: the patch removes every symptom" in printed
    assert "peak_idle_in_transaction >= 150" in printed


def test_a_fix_for_another_incident_leaves_the_symptoms(datasets, capsys):
    # redis-keys-scan is the shortest incident to run again; the connection leak's fix leaves it be.
    assert datasets["redis-keys-scan"].is_dir()  # wait for the session's own generation
    wrong = scenarios.fix_patch(scenarios.load("connection-leak"))
    assert main(["verify-fix", "redis-keys-scan", str(wrong)]) == 1
    printed = capsys.readouterr().out
    assert "symptoms are NOT gone" in printed


def test_verify_fix_refuses_a_control_scenario_and_a_missing_patch(tmp_path, capsys):
    leak = scenarios.load("connection-leak")
    assert main(["verify-fix", "baseline", str(scenarios.fix_patch(leak))]) == 2
    assert "no incident" in capsys.readouterr().err
    assert main(["verify-fix", "connection-leak", str(tmp_path / "missing.patch")]) == 2
    assert "no such patch file" in capsys.readouterr().err
