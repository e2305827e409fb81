"""Reporting over a tenant's data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import dependencies, request_session
from platform_api.api.middleware.validation import invalid, query_datetime, query_int
from platform_api.lib import clock
from platform_api.services import data_service

bp = Blueprint("reports", __name__, url_prefix="/reports")

DEFAULT_ACTIVITY_DAYS = 7


@bp.get("/summary")
def summary() -> dict[str, Any]:
    days = query_int("days", 7, 1, 90)
    result = data_service.activity_summary(
        request_session(), g.tenant_id, clock.utcnow() - timedelta(days=days)
    )
    return {
        "days": days,
        "since": serializers.iso(result.since),
        "records": result.records,
        "amount_cents": result.amount_cents,
        "by_kind": [
            {"kind": t.kind, "records": t.records, "amount_cents": t.amount_cents} for t in result.by_kind
        ],
        "daily": [
            {"day": d.day.isoformat(), "records": d.records, "amount_cents": d.amount_cents}
            for d in result.daily
        ],
    }


@bp.get("/usage")
def usage() -> dict[str, Any]:
    stats, reports = data_service.usage_overview(request_session(), g.tenant_id)
    return {
        "stats": serializers.tenant_stats(stats),
        "reports": [serializers.usage_report(report) for report in reports],
    }


@bp.get("/activity")
def activity() -> dict[str, Any]:
    """The dashboard's activity panel: totals per kind and the latest records over a period."""
    until = query_datetime("until", clock.utcnow())
    since = query_datetime("since", until - timedelta(days=DEFAULT_ACTIVITY_DAYS))
    if since >= until:
        raise invalid("since", "must be before until")
    tenant_id = g.tenant_id

    def render() -> dict[str, Any]:
        report = data_service.activity_report(request_session(), tenant_id, since, until)
        return {
            "since": serializers.iso(report.since),
            "until": serializers.iso(report.until),
            "by_kind": [
                {"kind": t.kind, "records": t.records, "amount_cents": t.amount_cents} for t in report.by_kind
            ],
            "latest": [serializers.record(row) for row in report.latest],
        }

    return dependencies().reports.get_or_render((tenant_id, since, until), render)
