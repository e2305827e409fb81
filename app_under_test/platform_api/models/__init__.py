"""The service's SQLAlchemy models; importing this package registers them all on ``Base.metadata``."""

from platform_api.models.audit import AuditEvent
from platform_api.models.base import Base
from platform_api.models.billing import Invoice
from platform_api.models.data import DataRecord, TenantStats, UsageReport
from platform_api.models.invitations import Invitation
from platform_api.models.notifications import Notification
from platform_api.models.outbox import OutboundEmail
from platform_api.models.tenancy import ApiKey, Tenant, User
from platform_api.models.workflows import Workflow, WorkflowRun, WorkflowStep

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
