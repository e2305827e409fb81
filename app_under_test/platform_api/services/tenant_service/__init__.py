"""Tenant lookups shared by the API and the background jobs."""

from platform_api.services.tenant_service.tenants import active_tenant_ids

__all__ = ["active_tenant_ids"]
