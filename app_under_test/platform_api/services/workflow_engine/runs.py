"""Starting runs and reading their history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib.errors import ConflictError
from platform_api.models import WorkflowRun, WorkflowStep
from platform_api.services.audit import record_event
from platform_api.services.pagination import Page, paginate
from platform_api.services.workflow_service import get_workflow


@dataclass(frozen=True)
class RunWithSteps:
    run: WorkflowRun
    steps: list[WorkflowStep]


def start_run(session: Session, tenant_id: int, user_id: int, workflow_id: int) -> RunWithSteps:
    """Queue a run of an active workflow; the engine job picks it up on its next tick."""
    workflow = get_workflow(session, tenant_id, workflow_id)
    if workflow.status != "active":
        raise ConflictError(f"workflow {workflow_id} is {workflow.status}")
    run = WorkflowRun(workflow_id=workflow.id, tenant_id=tenant_id, status="pending")
    session.add(run)
    session.flush()
    steps = [
        WorkflowStep(run_id=run.id, name=str(step.get("name", f"step-{position}")), position=position)
        for position, step in enumerate(workflow.definition.get("steps", []))
    ]
    session.add_all(steps)
    record_event(session, tenant_id, user_id, "workflow.run_started", f"run:{run.id}")
    session.commit()
    return RunWithSteps(run, steps)


def list_runs(
    session: Session, tenant_id: int, workflow_id: int, page: int, page_size: int
) -> Page[WorkflowRun]:
    get_workflow(session, tenant_id, workflow_id)
    return paginate(
        session,
        WorkflowRun,
        [WorkflowRun.workflow_id == workflow_id],
        [WorkflowRun.started_at.desc(), WorkflowRun.id.desc()],
        page,
        page_size,
    )


def latest_run(session: Session, workflow_id: int) -> WorkflowRun | None:
    return session.scalar(
        select(WorkflowRun)
        .where(WorkflowRun.workflow_id == workflow_id)
        .order_by(WorkflowRun.started_at.desc(), WorkflowRun.id.desc())
        .limit(1)
    )
