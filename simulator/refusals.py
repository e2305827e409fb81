"""What an external service refuses whatever its health: requests it cannot accept.

A degraded service fails at random; a refusal is deterministic, the service's own validation of the
request.  The email provider checks each message's recipient as real providers do (one address, a
local part and a domain of non-empty labels, no spaces or separators) and answers 422 otherwise,
however often the same message is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,}}")


def _email_provider(request: httpx.Request) -> httpx.Response | None:
    recipient = json.loads(request.content or b"{}").get("to")
    if isinstance(recipient, str) and _ADDRESS.fullmatch(recipient):
        return None
    return httpx.Response(
        422,
        json={"error": "invalid_recipient", "message": "'to' is not a valid email address"},
        request=request,
    )


#: service -> its validation: the answer to a request it refuses, or None to serve it
REFUSALS: dict[str, Callable[[httpx.Request], httpx.Response | None]] = {"email-provider": _email_provider}
