"""JSON representations of models, as the public API documents them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from platform_api.models import (
    DataRecord,
    Invitation,
    Invoice,
    Notification,
    TenantStats,
    UsageReport,
    User,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from platform_api.services.pagination import Page

T = TypeVar("T")
Json = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def page(result: Page[T], item: Callable[[T], Json]) -> Json:
    return {
        "items": [item(row) for row in result.items],
        "page": result.page,
        "page_size": result.page_size,
        "total": result.total,
    }


def workflow(row: Workflow) -> Json:
    return {
        "id": row.id,
        "name": row.name,
        "status": row.status,
        "definition": row.definition,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def run(row: WorkflowRun, steps: list[WorkflowStep] | None = None) -> Json:
    body: Json = {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "status": row.status,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "error": row.error,
    }
    if steps is not None:
        body["steps"] = [step(s) for s in steps]
    return body


def step(row: WorkflowStep) -> Json:
    return {"name": row.name, "position": row.position, "status": row.status, "attempts": row.attempts}


def user(row: User) -> Json:
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "role": row.role,
        "created_at": iso(row.created_at),
        "last_login_at": iso(row.last_login_at),
        "engagement_score": row.engagement_score,
    }


def record(row: DataRecord) -> Json:
    return {
        "id": row.id,
        "source": row.source,
        "kind": row.kind,
        "amount_cents": row.amount_cents,
        "payload": row.payload,
        "created_at": iso(row.created_at),
    }


def usage_report(row: UsageReport) -> Json:
    return {
        "period_start": iso(row.period_start),
        "period_end": iso(row.period_end),
        "records": row.records,
        "total_amount_cents": row.total_amount_cents,
        "breakdown": row.breakdown,
        "generated_at": iso(row.generated_at),
    }


def tenant_stats(row: TenantStats | None) -> Json | None:
    if row is None:
        return None
    return {
        "records_total": row.records_total,
        "amount_total_cents": row.amount_total_cents,
        "last_record_at": iso(row.last_record_at),
        "last_synced_at": iso(row.last_synced_at),
    }


def notification(row: Notification) -> Json:
    return {
        "id": row.id,
        "channel": row.channel,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }


def invoice(row: Invoice) -> Json:
    return {
        "id": row.id,
        "amount_cents": row.amount_cents,
        "currency": row.currency,
        "status": row.status,
        "created_at": iso(row.created_at),
        "paid_at": iso(row.paid_at),
    }


def invitation(row: Invitation) -> Json:
    return {
        "id": row.id,
        "email": row.email,
        "role": row.role,
        "status": row.status,
        "created_at": iso(row.created_at),
    }
