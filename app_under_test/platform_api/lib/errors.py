"""The application's own error hierarchy.

Code raises an :class:`AppError` subclass when a request cannot be served as asked (a missing row,
a conflicting name, invalid input).  Each class carries the HTTP status it maps to, so the API's
error handler renders all of them the same way and services never import Flask.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A failure the caller can act on; ``status_code`` is the HTTP status it maps to."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Extra fields for the JSON error body."""
        return {}


class NotFoundError(AppError):
    status_code = 404

    def __init__(self, resource: str, identifier: object) -> None:
        super().__init__(f"{resource} {identifier} not found")


class ConflictError(AppError):
    status_code = 409
