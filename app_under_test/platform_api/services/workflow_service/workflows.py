"""Workflow definitions.

A definition is stored only after the validation service has accepted it: the connector rules it
checks change independently of this service, so validation happens at save time rather than here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib.database.transactions import transaction
from platform_api.lib.errors import AppError, ConflictError, NotFoundError
from platform_api.lib.external_apis import ValidationServiceClient
from platform_api.models import Workflow
from platform_api.services.audit import record_event
from platform_api.services.pagination import Page, paginate


class InvalidWorkflowDefinition(AppError):
    """The validation service rejected the definition; ``errors`` says why."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("workflow definition is invalid")
        self.errors = list(errors)

    def details(self) -> dict[str, Any]:
        return {"errors": self.errors}


def create_workflow(
    tenant_id: int,
    user_id: int,
    name: str,
    definition: dict[str, Any],
    validator: ValidationServiceClient,
    timeout: float | None = None,
) -> Workflow:
    """Validate and store a new workflow; names are unique within a tenant."""
    with transaction("create_workflow", timeout=timeout) as session:
        existing = session.scalar(
            select(Workflow.id).where(Workflow.tenant_id == tenant_id, Workflow.name == name)
        )
        if existing is not None:
            raise ConflictError(f"a workflow named {name!r} already exists")
        result = validator.validate_workflow(definition)
        if not result.valid:
            raise InvalidWorkflowDefinition(result.errors)
        workflow = Workflow(
            tenant_id=tenant_id, name=name, definition=definition, status="active", created_by=user_id
        )
        session.add(workflow)
        session.flush()
        record_event(session, tenant_id, user_id, "workflow.created", f"workflow:{workflow.id}")
    return workflow


def list_workflows(
    session: Session, tenant_id: int, status: str | None, page: int, page_size: int
) -> Page[Workflow]:
    filters = [Workflow.tenant_id == tenant_id]
    if status is not None:
        filters.append(Workflow.status == status)
    return paginate(session, Workflow, filters, [Workflow.id], page, page_size)


def get_workflow(session: Session, tenant_id: int, workflow_id: int) -> Workflow:
    workflow = session.scalar(
        select(Workflow).where(Workflow.id == workflow_id, Workflow.tenant_id == tenant_id)
    )
    if workflow is None:
        raise NotFoundError("workflow", workflow_id)
    return workflow
