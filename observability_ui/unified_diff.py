"""Applying a unified diff (as ``git diff`` writes it) to files in memory, strictly.

The code browser shows a release the checkout is not (the one a deploy replaced): its files are the
checkout's with the scenario's release diff applied.  Nothing is written to disk and no ``git``
runs per request; a hunk whose context does not match is refused, never applied approximately,
since a release shown wrong would mislead more than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_PREFIX = re.compile(r"^[ab]/")
NO_FILE = "/dev/null"


class PatchError(ValueError):
    """The diff cannot be read, or does not apply to the files it names."""


@dataclass
class FilePatch:
    old_path: str | None  # None: the diff creates the file
    new_path: str | None  # None: the diff deletes it
    hunks: list[tuple[int, list[str]]] = field(default_factory=list)  # (old first line, lines)


def parse(text: str) -> list[FilePatch]:
    """Every file of the diff with its hunks; paths without git's ``a/``/``b/`` prefixes."""
    files: list[FilePatch] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            files.append(FilePatch(_path(line[4:]), _path(lines[index + 1][4:])))
            index += 2
            continue
        match = _HUNK.match(line)
        if match:
            if not files:
                raise PatchError(f"a hunk before any file header: {line!r}")
            index = _read_hunk(lines, index, match, files[-1])
            continue
        index += 1  # ``diff --git``, ``index`` and other headers
    return files


def _path(header: str) -> str | None:
    name = header.split("\t", 1)[0].strip()
    return None if name == NO_FILE else _PREFIX.sub("", name, count=1)


def _read_hunk(lines: list[str], index: int, match: re.Match[str], into: FilePatch) -> int:
    """Read the hunk whose header is at ``index`` into ``into``; the index after it."""
    old_first, old_count, _, new_count = match.groups()
    old_left, new_left = int(old_count or 1), int(new_count or 1)
    body: list[str] = []
    index += 1
    while (old_left or new_left) and index < len(lines):
        line = lines[index]
        kind = line[:1] or " "  # an empty context line may have lost its space
        if kind in " -":
            old_left -= 1
        if kind in " +":
            new_left -= 1
        if kind not in " -+":
            raise PatchError(f"cannot read hunk line {line!r}")
        body.append(kind + line[1:])
        index += 1
    if old_left or new_left:
        raise PatchError(f"a hunk at line {old_first} ends early")
    while index < len(lines) and lines[index].startswith("\\"):  # "\ No newline at end of file"
        index += 1
    into.hunks.append((int(old_first), body))
    return index


def apply(text: str, read: Callable[[str], str | None]) -> dict[str, str | None]:
    """The files the diff ``text`` changes, after it: path -> new text (None: deleted).  ``read``
    gives a file's text before the diff (None when there is no such file)."""
    result: dict[str, str | None] = {}
    for patch in parse(text):
        before = read(patch.old_path) if patch.old_path else ""
        if before is None:
            raise PatchError(f"{patch.old_path}: no such file to patch")
        after = _apply_file(before.splitlines(), patch)
        if patch.new_path is None:
            result[patch.old_path or ""] = None
        else:
            result[patch.new_path] = "".join(line + "\n" for line in after)
    return result


def _apply_file(old: list[str], patch: FilePatch) -> list[str]:
    out: list[str] = []
    at = 0  # lines of ``old`` consumed
    for first, body in patch.hunks:
        start = max(first - 1, 0) if any(line[0] in " -" for line in body) else first
        if start < at:
            raise PatchError(f"{patch.old_path}: hunks overlap at line {first}")
        out += old[at:start]
        at = start
        for line in body:
            kind, content = line[0], line[1:]
            if kind in " -":
                if at >= len(old) or old[at] != content:
                    raise PatchError(f"{patch.old_path}: line {at + 1} does not match the diff's {content!r}")
                at += 1
            if kind in " +":
                out.append(content)
    return out + old[at:]
