"""A change to the service's deployment files, for tests that run the service as they say."""

from __future__ import annotations

import difflib
from pathlib import Path

from world import deployment, release

REPO = Path(__file__).resolve().parent.parent
REPOSITORY = release.installed_root()  # the checkout's


def deployment_patch(threads: int, port: int, mem_limit: str, read_timeout: str) -> bytes:
    """A change to the checkout's deployment files, as ``generate --patch`` and ``live --patch`` take it."""
    edits = {
        deployment.GUNICORN_CONF: [
            ("threads = ", f"threads = {threads}"),
            ("bind = ", f'bind = "0.0.0.0:{port}"'),
        ],
        deployment.COMPOSE_FILE: [("    mem_limit: ", f"    mem_limit: {mem_limit}")],
        deployment.GATEWAY_CONF: [
            ("        proxy_read_timeout ", f"        proxy_read_timeout {read_timeout};")
        ],
    }
    diff: list[str] = []
    for name, replacements in edits.items():
        old = (REPOSITORY / name).read_text().splitlines(keepends=True)
        new = list(old)
        for prefix, line in replacements:
            (at,) = [i for i, text in enumerate(old) if text.startswith(prefix)]
            new[at] = line + "\n"
        path = f"{REPOSITORY.relative_to(REPO)}/{name}"
        diff += difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
    return "".join(diff).encode()
