"""Invoices and their payment."""

from platform_api.services.billing_service.checkout import SEAT_PRICES_CENTS, checkout
from platform_api.services.billing_service.invoices import PaymentDeclined, pay_invoice

__all__ = ["SEAT_PRICES_CENTS", "PaymentDeclined", "checkout", "pay_invoice"]
