"""Invoice payment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from app_under_test.api import serializers
from app_under_test.api.deps import dependencies, request_session
from app_under_test.services import billing_service

bp = Blueprint("billing", __name__, url_prefix="/billing")


@bp.post("/invoices/<int:invoice_id>/pay")
def pay_invoice(invoice_id: int) -> dict[str, Any]:
    invoice = billing_service.pay_invoice(
        request_session(), g.tenant_id, g.user_id, invoice_id, dependencies().payments
    )
    return serializers.invoice(invoice)
