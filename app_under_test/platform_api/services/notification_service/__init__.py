"""User notifications: queued in the database, delivered by email in the background."""

from platform_api.services.notification_service.delivery import retry_failed_notifications
from platform_api.services.notification_service.digests import send_activity_digests
from platform_api.services.notification_service.queue import list_notifications, queue_notification

__all__ = ["list_notifications", "queue_notification", "retry_failed_notifications", "send_activity_digests"]
