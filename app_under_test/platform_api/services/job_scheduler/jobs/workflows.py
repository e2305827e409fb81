"""The workflow engine's tick."""

from __future__ import annotations

from platform_api.lib import clock
from platform_api.lib.database.client import db
from platform_api.services import workflow_engine
from platform_api.services.job_scheduler.jobs.runtime import JobCounts, scheduled_job


@scheduled_job("advance_workflow_runs")
def advance_workflow_runs() -> JobCounts:
    """Move active workflow runs one step forward."""
    with db.session() as session:
        changed = workflow_engine.advance_pending_runs(session, clock.utcnow())
    return {"runs_advanced": changed}
