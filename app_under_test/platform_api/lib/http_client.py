"""Base class for the clients of external HTTP services.

Wraps :class:`httpx.Client` with the service's conventions: a base URL and timeout from config,
trace-context propagation, a client span and latency metrics per call.  The transport is the
process's (:mod:`platform_api.lib.plumbing`).
"""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from platform_api.lib import clock, metrics, plumbing, tracing


class ExternalServiceError(Exception):
    """An external dependency failed or did not answer in time."""

    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status


class HttpServiceClient:
    """One external service: subclasses add the typed calls."""

    service_name = "external"

    def __init__(self, base_url: str, timeout: float, api_key: str = "") -> None:
        headers = {"User-Agent": "platform-api/1.0"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=plumbing.current.http_transport
        )
        self._host = httpx.URL(base_url).host

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; raises :class:`ExternalServiceError` on timeouts, transport errors and 5xx."""
        started = clock.monotonic()
        with tracing.start_as_current_span(
            f"{method} {self.service_name}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "server.address": self._host,
                "url.path": path,
                "peer.service": self.service_name,
            },
        ) as span:
            headers = kwargs.pop("headers", {})
            propagate.inject(headers)
            # OpenTelemetry's http.client.request.duration: the status code when a response came, and
            # error.type when the call failed; a label is left empty where the attribute is left out.
            status = error_type = ""
            try:
                response = self._client.request(method, path, headers=headers, **kwargs)
                status = str(response.status_code)
                if response.is_error:
                    error_type = status
            except httpx.TimeoutException as exc:
                error_type = _class_name(exc)
                tracing.record_error(span, exc)
                raise ExternalServiceError(self.service_name, "timed out") from exc
            except httpx.TransportError as exc:
                error_type = _class_name(exc)
                tracing.record_error(span, exc)
                raise ExternalServiceError(self.service_name, f"connection failed: {exc}") from exc
            finally:
                metrics.EXTERNAL_REQUEST_DURATION.labels(
                    self.service_name, method, status, error_type
                ).observe(clock.monotonic() - started)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
                raise ExternalServiceError(
                    self.service_name, f"HTTP {response.status_code}", status=response.status_code
                )
            return response


def _class_name(error: BaseException) -> str:
    """The exception's fully-qualified class name (``httpx.ReadTimeout``), as error.type reports it."""
    return f"{type(error).__module__}.{type(error).__qualname__}"
