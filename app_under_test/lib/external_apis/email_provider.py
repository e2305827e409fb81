"""Client of the transactional email provider."""

from __future__ import annotations

from app_under_test.lib.config import Settings
from app_under_test.lib.external_apis.base import JsonServiceClient


class EmailProviderClient(JsonServiceClient):
    service_name = "email-provider"

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailProviderClient:
        return cls(
            settings.email_provider_url,
            settings.email_provider_timeout,
            api_key=settings.email_provider_api_key,
        )

    def send(self, to: str, subject: str, body: str) -> str:
        """Send one plain-text message; returns the provider's message id."""
        response = self.post_json("/v1/messages", {"to": to, "subject": subject, "text": body})
        return str(response.get("id", ""))
