"""Client of the validation service, which checks workflow definitions before they are saved.

Validation lives in its own service because the rules depend on the connector catalogue, which
the integrations team deploys independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_api.lib.config import Settings
from platform_api.lib.external_apis.base import JsonServiceClient


@dataclass(frozen=True)
class ValidationResult:
    valid: bool
    errors: tuple[str, ...] = ()


class ValidationServiceClient(JsonServiceClient):
    service_name = "validation-service"

    @classmethod
    def from_settings(cls, settings: Settings) -> ValidationServiceClient:
        return cls(settings.validation_service_url, settings.validation_service_timeout)

    def validate_workflow(self, definition: dict[str, Any]) -> ValidationResult:
        body = self.post_json("/v1/validate/workflow", {"definition": definition})
        return ValidationResult(
            valid=bool(body.get("valid")), errors=tuple(str(e) for e in body.get("errors") or ())
        )
