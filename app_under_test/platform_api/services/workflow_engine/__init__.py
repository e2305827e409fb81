"""Workflow execution: runs, their steps, and the state machine that moves them forward."""

from platform_api.services.workflow_engine.engine import advance_pending_runs
from platform_api.services.workflow_engine.runs import RunWithSteps, latest_run, list_runs, start_run

__all__ = ["RunWithSteps", "advance_pending_runs", "latest_run", "list_runs", "start_run"]
