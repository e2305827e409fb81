"""Typed clients for the external services the platform depends on."""

from platform_api.lib.external_apis.email_provider import EmailProviderClient
from platform_api.lib.external_apis.payment_gateway import Charge, PaymentGatewayClient
from platform_api.lib.external_apis.validation_service import ValidationResult, ValidationServiceClient

__all__ = [
    "Charge",
    "EmailProviderClient",
    "PaymentGatewayClient",
    "ValidationResult",
    "ValidationServiceClient",
]
