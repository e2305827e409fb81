"""Users of a tenant: directory operations, invitations and engagement scoring."""

from platform_api.services.user_service.engagement import recompute_engagement_scores
from platform_api.services.user_service.invitations import invite_user
from platform_api.services.user_service.seats import billed_seats
from platform_api.services.user_service.users import create_user, get_user, list_users, update_user

__all__ = [
    "billed_seats",
    "create_user",
    "get_user",
    "invite_user",
    "list_users",
    "recompute_engagement_scores",
    "update_user",
]
