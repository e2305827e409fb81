"""Paying invoices through the payment gateway."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_api.lib import clock
from platform_api.lib.errors import AppError, ConflictError, NotFoundError
from platform_api.lib.external_apis import Charge, PaymentGatewayClient
from platform_api.models import Invoice
from platform_api.services.audit import record_event


class PaymentDeclined(AppError):
    status_code = 402

    def __init__(self, invoice_id: int) -> None:
        super().__init__(f"payment for invoice {invoice_id} was declined")


def pay_invoice(
    session: Session, tenant_id: int, actor_id: int, invoice_id: int, gateway: PaymentGatewayClient
) -> Invoice:
    """Charge an open invoice and mark it paid."""
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id, Invoice.tenant_id == tenant_id))
    if invoice is None:
        raise NotFoundError("invoice", invoice_id)
    if invoice.status != "open":
        raise ConflictError(f"invoice {invoice_id} is {invoice.status}")
    return settle_invoice(session, actor_id, invoice, gateway.charge)


def settle_invoice(
    session: Session, actor_id: int, invoice: Invoice, charge: Callable[[int, int, str], Charge]
) -> Invoice:
    """Charge an open invoice with ``charge`` (the gateway's); on success mark it paid and commit."""
    result = charge(invoice.id, invoice.amount_cents, invoice.currency)
    if not result.succeeded:
        raise PaymentDeclined(invoice.id)
    invoice.status = "paid"
    invoice.paid_at = clock.utcnow()
    record_event(session, invoice.tenant_id, actor_id, "invoice.paid", f"invoice:{invoice.id}")
    session.commit()
    return invoice
