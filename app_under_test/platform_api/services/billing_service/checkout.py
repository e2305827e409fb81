"""Buying seats on a plan: the purchase's invoice is created and charged in the same request."""

from __future__ import annotations

from sqlalchemy.orm import Session

from platform_api.lib.external_apis import PaymentGatewayClient
from platform_api.lib.retry import retry_transient
from platform_api.models import Invoice
from platform_api.services.audit import record_event
from platform_api.services.billing_service.invoices import settle_invoice

#: monthly price of one seat, by plan
SEAT_PRICES_CENTS = {"starter": 1_200, "team": 2_900, "business": 5_900}
CHARGE_ATTEMPTS = 5


def checkout(
    session: Session, tenant_id: int, actor_id: int, plan: str, seats: int, gateway: PaymentGatewayClient
) -> Invoice:
    """Invoice ``seats`` seats of ``plan`` and charge the invoice.

    The invoice is committed before the charge, so a purchase whose payment fails stays on record
    as an open invoice the tenant can pay later (``POST /billing/invoices/<id>/pay``).  The buyer
    is waiting on the purchase page, so a transient gateway failure is retried rather than shown:
    the idempotency key makes charging the same invoice again safe.
    """
    invoice = Invoice(
        tenant_id=tenant_id, amount_cents=SEAT_PRICES_CENTS[plan] * seats, currency="USD", status="open"
    )
    session.add(invoice)
    session.flush()
    record_event(session, tenant_id, actor_id, "invoice.created", f"invoice:{invoice.id}")
    session.commit()
    charge = retry_transient(attempts=CHARGE_ATTEMPTS)(gateway.charge)
    return settle_invoice(session, actor_id, invoice, charge)
