"""The email outbox: transactional emails queued with the change that causes them, sent in the background."""

from platform_api.services.email_outbox.queue import publish_backlog, queue_email
from platform_api.services.email_outbox.sender import OutboxRun, send_outbox

__all__ = ["OutboxRun", "publish_backlog", "queue_email", "send_outbox"]
