"""API sessions: which clients are calling with a tenant's keys, from where, and when last seen."""

from platform_api.services.session_service.sessions import list_active_sessions, record_activity

__all__ = ["list_active_sessions", "record_activity"]
