"""Client of the payment gateway that charges tenants' cards for their invoices."""

from __future__ import annotations

from dataclasses import dataclass

from platform_api.lib.config import Settings
from platform_api.lib.external_apis.base import JsonServiceClient


@dataclass(frozen=True)
class Charge:
    id: str
    status: str

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class PaymentGatewayClient(JsonServiceClient):
    """The gateway authorises a charge with the card network before it answers, which takes up to
    30 s for some issuers (``PAYMENT_GATEWAY_TIMEOUT``)."""

    service_name = "payment-gateway"

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentGatewayClient:
        return cls(
            settings.payment_gateway_url,
            settings.payment_gateway_timeout,
            api_key=settings.payment_gateway_api_key,
        )

    def charge(self, invoice_id: int, amount_cents: int, currency: str) -> Charge:
        """Charge an invoice; the idempotency key makes retrying a timed-out charge safe."""
        body = self.post_json(
            "/v1/charges",
            {"invoice_id": invoice_id, "amount_cents": amount_cents, "currency": currency},
            headers={"Idempotency-Key": f"invoice-{invoice_id}"},
        )
        return Charge(id=str(body.get("id", "")), status=str(body.get("status", "")))

    def report_seats(self, tenant_id: int, seats: dict[str, int], period_end: str) -> str:
        """Record a tenant's seats for the billing period ending at ``period_end`` (ISO 8601); the
        gateway prices them on the next invoice.  Reporting a period again replaces its record."""
        body = self.post_json(
            "/v1/usage_records",
            {"customer": f"tenant-{tenant_id}", "seats": seats, "period_end": period_end},
            headers={"Idempotency-Key": f"seats-{tenant_id}-{period_end}"},
        )
        return str(body.get("id", ""))
