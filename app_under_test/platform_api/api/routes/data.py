"""Bulk import of data records, and reading them back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import dependencies, request_session
from platform_api.api.middleware.validation import (
    invalid,
    json_body,
    query_datetime,
    query_int,
    required_string,
)
from platform_api.lib import clock
from platform_api.models.data import RECORD_KINDS
from platform_api.services import data_service

bp = Blueprint("data", __name__, url_prefix="/data")

MAX_IMPORT_BATCH = 1000
DEFAULT_LOOKBACK = timedelta(days=1)


@bp.post("/import")
def import_records() -> tuple[dict[str, Any], int]:
    body = json_body()
    source = required_string(body, "source", max_length=50)
    records = body.get("records")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_IMPORT_BATCH:
        raise invalid("records", f"must be a list of 1 to {MAX_IMPORT_BATCH} records")
    batch = [_new_record(position, record) for position, record in enumerate(records)]
    imported = data_service.import_records(
        g.tenant_id, g.user_id, source, batch, timeout=dependencies().settings.db_transaction_timeout
    )
    return {"imported": imported}, 201


@bp.get("/records")
def list_records() -> dict[str, Any]:
    since = query_datetime("since", clock.utcnow() - DEFAULT_LOOKBACK)
    limit = query_int("limit", 100, 1, 1000)
    rows = data_service.list_records(request_session(), g.tenant_id, since, limit)
    return {"items": [serializers.record(row) for row in rows], "since": serializers.iso(since)}


@bp.get("/export")
def export() -> dict[str, Any]:
    since = query_datetime("since", clock.utcnow() - DEFAULT_LOOKBACK)
    totals = data_service.export_by_kind(request_session(), g.tenant_id, since)
    return {
        "since": serializers.iso(since),
        "kinds": [{"kind": t.kind, "records": t.records, "amount_cents": t.amount_cents} for t in totals],
    }


def _new_record(position: int, record: Any) -> data_service.NewRecord:
    field = f"records[{position}]"
    if not isinstance(record, dict):
        raise invalid(field, "must be an object")
    if record.get("kind") not in RECORD_KINDS:
        raise invalid(f"{field}.kind", f"must be one of {', '.join(RECORD_KINDS)}")
    amount = record.get("amount_cents", 0)
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise invalid(f"{field}.amount_cents", "must be an integer")
    payload = record.get("payload", {})
    if not isinstance(payload, dict):
        raise invalid(f"{field}.payload", "must be an object")
    return data_service.NewRecord(kind=record["kind"], amount_cents=amount, payload=payload)
