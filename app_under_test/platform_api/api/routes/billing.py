"""Invoice payment and plan purchases."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from platform_api.api import serializers
from platform_api.api.deps import dependencies, request_session
from platform_api.api.middleware.validation import invalid, json_body, required_choice
from platform_api.services import billing_service

bp = Blueprint("billing", __name__, url_prefix="/billing")

MAX_SEATS = 500


@bp.post("/invoices/<int:invoice_id>/pay")
def pay_invoice(invoice_id: int) -> dict[str, Any]:
    invoice = billing_service.pay_invoice(
        request_session(), g.tenant_id, g.user_id, invoice_id, dependencies().payments
    )
    return serializers.invoice(invoice)


@bp.post("/checkout")
def checkout() -> tuple[dict[str, Any], int]:
    body = json_body()
    plan = required_choice(body, "plan", billing_service.SEAT_PRICES_CENTS)
    seats = body.get("seats")
    if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= MAX_SEATS:
        raise invalid("seats", f"must be a whole number from 1 to {MAX_SEATS}")
    invoice = billing_service.checkout(
        request_session(), g.tenant_id, g.user_id, plan, seats, dependencies().payments
    )
    return serializers.invoice(invoice), 201
