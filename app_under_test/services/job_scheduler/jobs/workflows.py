"""The workflow engine's tick."""

from __future__ import annotations

from app_under_test.lib import clock
from app_under_test.lib.database.client import db
from app_under_test.services import workflow_engine
from app_under_test.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job


@scheduled_job("advance_workflow_runs")
def advance_workflow_runs() -> JobCounts:
    """Move active workflow runs one step forward."""
    with db.session() as session:
        changed = workflow_engine.advance_pending_runs(session, clock.utcnow())
    return {"runs_advanced": changed}
