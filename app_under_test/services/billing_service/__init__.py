"""Invoices and their payment."""

from app_under_test.services.billing_service.invoices import PaymentDeclined, pay_invoice

__all__ = ["PaymentDeclined", "pay_invoice"]
