"""Client of the transactional email provider."""

from __future__ import annotations

from platform_api.lib.config import Settings
from platform_api.lib.external_apis.base import JsonServiceClient


class EmailProviderClient(JsonServiceClient):
    service_name = "email-provider"

    def __init__(self, base_url: str, timeout: float, api_key: str = "", sender: str = "") -> None:
        super().__init__(base_url, timeout, api_key=api_key)
        self.sender = sender  # empty: the provider account's default sender

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailProviderClient:
        return cls(
            settings.email_provider_url,
            settings.email_provider_timeout,
            api_key=settings.email_provider_api_key,
            sender=settings.email_sender,
        )

    def send(self, to: str, subject: str, body: str) -> str:
        """Send one plain-text message; returns the provider's message id."""
        message = {"to": to, "subject": subject, "text": body}
        if self.sender:
            message["from"] = self.sender
        response = self.post_json("/v1/messages", message)
        return str(response.get("id", ""))
