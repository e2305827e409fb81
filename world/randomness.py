"""Independent random streams derived from one master seed.

Each component draws from its own stream, named, so adding a draw in one component never shifts
another's sequence, and the derivation (SHA-256, not ``hash()``) is stable across processes and
``PYTHONHASHSEED`` values.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(master: int, name: str) -> int:
    digest = hashlib.sha256(f"{master}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stream(master: int, name: str) -> random.Random:
    return random.Random(derive_seed(master, name))
