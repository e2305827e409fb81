r"""The stages of a LogQL pipeline that run per line: parsers, label filter expressions, ``line_format``,
``unwrap``, and the line filters written after one of them; their canonical text and the literals
they read (Go durations, byte sizes, the ``line_format`` template).

Apart from :mod:`.logql_syntax` (which parses them) and :mod:`.logql_pipeline` (which runs them) so
both can name the same objects.  What each stage means is Loki's (links on the Logs page):

- ``| json`` puts every field of the record as the service wrote it into labels (nested objects
  joined with ``_``, arrays skipped, names with other characters than ``[A-Za-z0-9_]`` given ``_``
  for them, ``_extracted`` appended to a stream label's name); ``| json status="http.status"``
  extracts only the named paths (``a.b``, ``a[0]``, ``a["key.with.dots"]``);
- ``| logfmt`` reads the message as ``key=value`` pairs, skipping what is not one (``--strict``:
  marks the line ``__error__="LogfmtParserErr"`` instead) and bare keys (``--keep-empty``: a label
  with an empty value); ``| logfmt name="key"`` extracts only the named keys;
- a label filter compares a label as text (``=``, ``!=``, ``=~``, ``!~``), as a number (``==``,
  ``!=``, ``>``, ``>=``, ``<``, ``<=``, with ``=`` for ``==``), a Go duration (``> 250ms``) or a byte
  size (``> 1KiB``), combined with ``and`` (or ``,`` or a space) and ``or`` and brackets;
- ``| line_format "..."`` replaces the line with a Go template of which only field references
  (``{{.status}}``, ``{{ .status }}``) and ``{{__line__}}`` are supported;
- ``| unwrap name``, ``| unwrap duration(name)`` (also ``duration_seconds``) or ``bytes(name)``
  takes the sample value of a metric query from a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_BYTES = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)")
_BYTE_UNITS = {
    "": 1,
    "b": 1,
    **{f"{p}b": 1000**n for n, p in enumerate("kmgtpe", 1)},
    **{p: 1000**n for n, p in enumerate("kmgtpe", 1)},
    **{f"{p}ib": 1024**n for n, p in enumerate("kmgtpe", 1)},
    **{f"{p}i": 1024**n for n, p in enumerate("kmgtpe", 1)},
}
_TEMPLATE_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD_REFERENCE = re.compile(r"\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*")
_LINE_REFERENCE = re.compile(r"\s*__line__\s*")
UNWRAP_CONVERSIONS = ("duration", "duration_seconds", "bytes")
LOGFMT_FLAGS = ("--strict", "--keep-empty")


def quote(text: str) -> str:
    """Render ``text`` as a double-quoted LogQL string that the parser reads back unchanged."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def format_number(value: float) -> str:
    return repr(value).removesuffix(".0")


def parse_duration(text: str) -> float | None:
    """A Go duration (``1h30m``, ``250ms``, ``-1.5s``, ``0``) in seconds, or None when it is not one."""
    body = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    total, at = 0.0, 0
    while at < len(body):
        part = _DURATION_PART.match(body, at)
        if part is None:
            return None
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        at = part.end()
    return sign * total if body else None


def parse_bytes(text: str) -> float | None:
    """A byte size as go-humanize reads it (``42``, ``1.5 KB`` = 1500, ``1KiB`` = 1024), or None."""
    match = _BYTES.fullmatch(text.strip())
    if match is None or match.group(2).lower() not in _BYTE_UNITS:
        return None
    return float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()]


@dataclass(frozen=True)
class LineFilter:
    """``|= != |~ !~`` on the log line: the message followed by the record's attributes as JSON text
    (or, after ``line_format``, the line it wrote)."""

    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.op} {quote(self.value)}"


@dataclass(frozen=True)
class Parser:
    """``| json`` or ``| logfmt``, with ``(label, path)`` pairs when only those are extracted."""

    kind: str
    extract: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = ()  # logfmt's --strict and --keep-empty

    def __str__(self) -> str:
        fields = ", ".join(f"{label}={quote(path)}" for label, path in self.extract)
        return " ".join(["|", self.kind, *self.flags, *([fields] if fields else [])])


@dataclass(frozen=True)
class Comparison:
    """One label compared with a value: ``kind`` says how (``string``, ``number``, ``duration`` or
    ``bytes``); ``value`` is the text, or the number (seconds, bytes) it was read as; ``literal`` is
    the duration or size as written, for the canonical text."""

    label: str
    op: str
    value: str | float
    kind: str = "string"
    literal: str = ""

    def __str__(self) -> str:
        if self.kind == "string":
            return f"{self.label}{self.op}{quote(str(self.value))}"
        written = self.literal or format_number(float(self.value))
        return f"{self.label} {self.op} {written}"


@dataclass(frozen=True)
class Binary:
    """``left and right`` or ``left or right`` (``and`` binds tighter, as in Loki)."""

    op: str
    left: Comparison | Binary
    right: Comparison | Binary

    def __str__(self) -> str:
        def side(expression: Comparison | Binary) -> str:
            nested = isinstance(expression, Binary) and expression.op != self.op
            return f"({expression})" if nested else str(expression)

        return f"{side(self.left)} {self.op} {side(self.right)}"


@dataclass(frozen=True)
class LabelFilter:
    """``| expression``: keeps the lines for which it holds (a comparison a line's value cannot be read
    for keeps the line and marks it ``__error__="LabelFilterErr"``, as Loki does)."""

    expression: Comparison | Binary

    def __str__(self) -> str:
        return f"| {self.expression}"


@dataclass(frozen=True)
class LineFormat:
    """``| line_format "template"``; ``parts`` alternate literal text and field names (odd positions;
    ``__line__`` the current line)."""

    template: str
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return f"| line_format {quote(self.template)}"


@dataclass(frozen=True)
class Unwrap:
    """``| unwrap label`` or ``| unwrap conversion(label)``: the sample value of a metric query."""

    label: str
    conversion: str = ""

    def __str__(self) -> str:
        return f"| unwrap {self.conversion}({self.label})" if self.conversion else f"| unwrap {self.label}"


Stage = LineFilter | Parser | LabelFilter | LineFormat | Unwrap


def template_parts(template: str) -> tuple[str, ...] | str:
    """The template split into literal text and field names, or the action it cannot run (text)."""
    parts: list[str] = []
    at = 0
    for action in _TEMPLATE_ACTION.finditer(template):
        parts.append(template[at : action.start()])
        inner = action.group(1)
        if field := _FIELD_REFERENCE.fullmatch(inner):
            parts.append(field.group(1))
        elif _LINE_REFERENCE.fullmatch(inner):
            parts.append("__line__")
        else:
            return "{{" + inner + "}}"
        at = action.end()
    parts.append(template[at:])
    return tuple(parts)
