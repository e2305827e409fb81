"""The service's SQLAlchemy models; importing this package registers them all on ``Base.metadata``."""

from app_under_test.models.audit import AuditEvent
from app_under_test.models.base import Base
from app_under_test.models.billing import Invoice
from app_under_test.models.data import DataRecord, TenantStats, UsageReport
from app_under_test.models.invitations import Invitation
from app_under_test.models.notifications import Notification
from app_under_test.models.outbox import OutboundEmail
from app_under_test.models.tenancy import ApiKey, Tenant, User
from app_under_test.models.workflows import Workflow, WorkflowRun, WorkflowStep

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "DataRecord",
    "Invitation",
    "Invoice",
    "Notification",
    "OutboundEmail",
    "Tenant",
    "TenantStats",
    "UsageReport",
    "User",
    "Workflow",
    "WorkflowRun",
    "WorkflowStep",
]
