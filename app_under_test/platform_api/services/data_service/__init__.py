"""Tenants' imported data records and everything derived from them: exports, reports, totals."""

from platform_api.services.data_service.activity import ActivityReport, activity_report
from platform_api.services.data_service.aggregates import DailyTotals, KindTotals
from platform_api.services.data_service.records import (
    NewRecord,
    export_by_kind,
    import_records,
    list_records,
)
from platform_api.services.data_service.reports import ActivitySummary, activity_summary, usage_overview
from platform_api.services.data_service.retention import purge_expired_records
from platform_api.services.data_service.stats import sync_tenant_stats
from platform_api.services.data_service.usage import generate_usage_reports

__all__ = [
    "ActivityReport",
    "ActivitySummary",
    "DailyTotals",
    "KindTotals",
    "NewRecord",
    "activity_report",
    "activity_summary",
    "export_by_kind",
    "generate_usage_reports",
    "import_records",
    "list_records",
    "purge_expired_records",
    "sync_tenant_stats",
    "usage_overview",
]
