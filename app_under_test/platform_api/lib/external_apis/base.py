"""JSON request/response handling shared by the external service clients."""

from __future__ import annotations

from typing import Any

from platform_api.lib.http_client import ExternalServiceError, HttpServiceClient


class JsonServiceClient(HttpServiceClient):
    """A service that takes and returns JSON objects.

    Any answer other than a 2xx JSON object is an :class:`ExternalServiceError`: callers only deal
    with well-formed responses.
    """

    def post_json(
        self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = self.request("POST", path, json=payload, headers=dict(headers or {}))
        if response.status_code >= 400:
            raise ExternalServiceError(
                self.service_name, f"HTTP {response.status_code}", status=response.status_code
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ExternalServiceError(self.service_name, "response is not JSON") from exc
        if not isinstance(body, dict):
            raise ExternalServiceError(self.service_name, "response is not a JSON object")
        return body
