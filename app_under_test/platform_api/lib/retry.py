"""Retrying calls to external services that fail for transient reasons.

A dropped connection, a gateway instance restarting or a momentary 503 usually succeeds on the
next try, and a checkout that fails on such a blip is a lost sale.  Calls that are safe to repeat
(the payment gateway de-duplicates charges by idempotency key) are wrapped with
:func:`retry_transient`, so the caller sees only failures that outlast every attempt.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from platform_api.lib.http_client import ExternalServiceError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def retry_transient(
    attempts: int = 3, retry_on: tuple[type[Exception], ...] = (ExternalServiceError,)
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Call the decorated function up to ``attempts`` times while it raises one of ``retry_on``.

    Each failed attempt is logged with its number; the last failure propagates unchanged, so error
    handlers see the same exception as without retries.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            attempt = 1
            while True:
                try:
                    return func(*args, **kwargs)
                except retry_on as exc:
                    if attempt >= attempts:
                        raise
                    logger.warning(
                        "retrying after transient failure",
                        extra={
                            "operation": func.__qualname__,
                            "attempt": attempt,
                            "max_attempts": attempts,
                            "error": str(exc),
                        },
                    )
                    attempt += 1

        return call

    return decorate
