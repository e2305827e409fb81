"""Workflow definitions and their runs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g
from sqlalchemy.orm import Session

from platform_api.api import serializers
from platform_api.api.deps import dependencies, request_session
from platform_api.api.middleware.validation import (
    invalid,
    json_body,
    pagination,
    query_choice,
    required_string,
)
from platform_api.models.workflows import WORKFLOW_STATUSES, Workflow
from platform_api.services import workflow_engine, workflow_service

bp = Blueprint("workflows", __name__, url_prefix="/workflows")

MAX_STEPS = 50
LIST_INCLUDES = ("last_run",)  # optional expansions of the list's rows, as ?include=


@bp.get("")
def list_workflows() -> dict[str, Any]:
    page, page_size = pagination()
    status = query_choice("status", WORKFLOW_STATUSES)
    include = query_choice("include", LIST_INCLUDES)
    session = request_session()
    result = workflow_service.list_workflows(session, g.tenant_id, status, page, page_size)
    if include == "last_run":
        return serializers.page(result, lambda row: _with_latest_run(session, row))
    return serializers.page(result, serializers.workflow)


@bp.post("")
def create_workflow() -> tuple[dict[str, Any], int]:
    body = json_body()
    name = required_string(body, "name")
    definition = _definition(body)
    deps = dependencies()
    workflow = workflow_service.create_workflow(
        g.tenant_id,
        g.user_id,
        name,
        definition,
        deps.validation,
        timeout=deps.settings.db_transaction_timeout,
    )
    return serializers.workflow(workflow), 201


@bp.get("/<int:workflow_id>")
def get_workflow(workflow_id: int) -> dict[str, Any]:
    session = request_session()
    workflow = workflow_service.get_workflow(session, g.tenant_id, workflow_id)
    last_run = workflow_engine.latest_run(session, workflow.id)
    body = serializers.workflow(workflow)
    body["last_run"] = serializers.run(last_run) if last_run is not None else None
    return body


@bp.post("/<int:workflow_id>/runs")
def start_run(workflow_id: int) -> tuple[dict[str, Any], int]:
    started = workflow_engine.start_run(request_session(), g.tenant_id, g.user_id, workflow_id)
    return serializers.run(started.run, started.steps), 202


@bp.get("/<int:workflow_id>/runs")
def list_runs(workflow_id: int) -> dict[str, Any]:
    page, page_size = pagination()
    result = workflow_engine.list_runs(request_session(), g.tenant_id, workflow_id, page, page_size)
    return serializers.page(result, serializers.run)


def _with_latest_run(session: Session, workflow: Workflow) -> dict[str, Any]:
    """A list row also shows the workflow's most recent run, so the page shows what is failing."""
    body = serializers.workflow(workflow)
    last_run = workflow_engine.latest_run(session, workflow.id)
    body["last_run"] = serializers.run(last_run) if last_run is not None else None
    return body


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    """Structural checks only; the validation service judges the content."""
    definition = body.get("definition")
    if not isinstance(definition, dict):
        raise invalid("definition", "must be a JSON object")
    steps = definition.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise invalid("definition.steps", f"must be a list of 1 to {MAX_STEPS} steps")
    for position, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("name"), str) or not step.get("type"):
            raise invalid(f"definition.steps[{position}]", "must be an object with a name and a type")
    return definition
