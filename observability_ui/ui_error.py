"""The error a view (or a query engine) raises for a request it cannot serve, rendered by ``application.py``.

Kept apart from ``request_context`` so that the query engines can raise one (a query cancelled for
its time budget) without importing the request machinery that itself uses them.
"""

from __future__ import annotations


class UiError(Exception):
    """A candidate's input that cannot be served; shown on the page, 400 from the JSON API (or
    ``status``: 503 for a query cancelled for its time budget)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
