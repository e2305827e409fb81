"""The run state machine.

Runs and steps move ``pending -> running -> succeeded | failed``.  Each tick of the engine job moves
every active run by at most one transition, so a tick's work is bounded by the number of active
runs, not by how long their workflows are.  Step actions are executed by the connector workers;
the engine only tracks their state, except for ``delay`` steps, which it completes itself once
their time has passed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.models import Workflow, WorkflowRun, WorkflowStep

STEP_TYPES = frozenset({"http_request", "transform", "filter", "notify", "delay"})
ACTIVE_STATUSES = ("pending", "running")


def advance_pending_runs(session: Session, now: datetime, limit: int = 200) -> int:
    """Move up to ``limit`` active runs forward by one transition; returns how many changed."""
    runs = session.execute(
        select(WorkflowRun, Workflow.definition)
        .join(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .where(WorkflowRun.status.in_(ACTIVE_STATUSES))
        .order_by(WorkflowRun.id)
        .limit(limit)
    ).all()
    if not runs:
        return 0
    steps_by_run: dict[int, list[WorkflowStep]] = defaultdict(list)
    for step in session.scalars(
        select(WorkflowStep)
        .where(WorkflowStep.run_id.in_([run.id for run, _ in runs]))
        .order_by(WorkflowStep.run_id, WorkflowStep.position)
    ):
        steps_by_run[step.run_id].append(step)
    changed = sum(
        _advance(run, steps_by_run[run.id], definition.get("steps", []), now) for run, definition in runs
    )
    session.commit()
    return changed


def _advance(
    run: WorkflowRun, steps: list[WorkflowStep], configs: list[dict[str, Any]], now: datetime
) -> bool:
    if run.status == "pending":
        run.status = "running"
        return True
    step = next((s for s in steps if s.status != "succeeded"), None)
    if step is None:
        run.status = "succeeded"
        run.finished_at = now
        return True
    if step.status == "pending":
        step.status = "running"
        step.started_at = now
        step.attempts += 1
        return True
    config = configs[step.position] if step.position < len(configs) else {}
    step_type = config.get("type")
    if step_type not in STEP_TYPES:
        step.status = "failed"
        step.finished_at = now
        run.status = "failed"
        run.finished_at = now
        run.error = f"step {step.name!r}: unsupported step type {step_type!r}"
        return True
    if step_type == "delay" and not _delay_elapsed(step, config, now):
        return False
    step.status = "succeeded"
    step.finished_at = now
    return True


def _delay_elapsed(step: WorkflowStep, config: dict[str, Any], now: datetime) -> bool:
    started_at = step.started_at or now
    return now - started_at >= timedelta(seconds=float(config.get("seconds", 0)))
