"""How close a candidate's code location is to a ground-truth root cause.

Levels, best first: the exact lines (the submitted range overlaps the root cause's and is not a
whole file in disguise), the right function, the right file, the right layer (the file's package,
e.g. ``lib/database``).  Paths are accepted as the code browser shows them
(``platform_api/lib/database/x.py``), inside the package (``lib/database/x.py``) or as deployed in
stack traces (``/srv/platform-api/platform_api/...``).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path, PurePosixPath

from interview.scoring.submission import Location
from obsim.scenario import CodeLocation

CODE_ROOT = Path(__file__).resolve().parents[2] / "app_under_test" / "platform_api"
PACKAGE = "platform_api/"
_PREFIXES = ("/srv/platform-api/", "./", "/")
LEVELS = (("exact lines", 1.0), ("right function", 0.6), ("right file", 0.35), ("right layer", 0.15))
MAX_EXACT_SPAN = 40  # a range longer than this (or 3x the root cause's) is a function or file, not lines


def relative_path(path: str) -> str:
    """``path`` relative to the service's package root, however the candidate wrote it."""
    text = path.strip().replace("\\", "/")
    if PACKAGE in text:  # whatever precedes the package: the deployed directory, a checkout's
        return str(PurePosixPath(text.split(PACKAGE, 1)[1]))
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return str(PurePosixPath(text))


@lru_cache(maxsize=64)
def function_span(relative: str, name: str, inside: tuple[int, int]) -> tuple[int, int] | None:
    """Lines of the function ``name`` in the file that contains ``inside`` (its decorators included)."""
    path = CODE_ROOT / relative
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno or node.lineno
            if first <= inside[1] and inside[0] <= last:
                return first, last
    return None


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def closeness(submitted: Location, truth: CodeLocation) -> tuple[str, float]:
    """The best level ``submitted`` reaches for ``truth``, and its credit (0 when none)."""
    mine, theirs = relative_path(submitted.file), relative_path(truth.file)
    if mine != theirs:
        same_layer = PurePosixPath(mine).parent == PurePosixPath(theirs).parent
        return ("right layer", LEVELS[3][1]) if same_layer else ("elsewhere", 0.0)
    if submitted.lines is None:
        return LEVELS[2]
    span = submitted.lines[1] - submitted.lines[0] + 1
    precise = span <= max(MAX_EXACT_SPAN, 3 * (truth.lines[1] - truth.lines[0] + 1))
    if precise and _overlaps(submitted.lines, truth.lines):
        return LEVELS[0]
    function = function_span(theirs, truth.function, truth.lines)
    if (
        function is not None
        and _overlaps(submitted.lines, function)
        and (precise or span <= 2 * (function[1] - function[0] + 1))
    ):
        return LEVELS[1]
    return LEVELS[2]
