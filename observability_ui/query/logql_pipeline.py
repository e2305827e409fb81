"""Runs a query's pipeline (:mod:`.logql_stages`) over one stored record at a time, as Loki runs its
stages over each line: parsers add labels, label filters keep or drop the line, ``line_format``
rewrites it, ``unwrap`` reads the sample value.

Why in Python and not SQL: the stages read what the previous ones extracted or wrote, in order, so
:mod:`.logql` lets SQL narrow the records by the selector and the filters written before the first
stage, then hands each remaining row here.  The caller iterates under the request's query budget.

Labels start as the record's stream labels (service, level, host, logger).  A name no stage has
extracted reads the record's own field of that name (``trace_id``, ``span_id`` or an attribute, as
the filters written before a parser do), so ``| http.route="/users"`` holds after ``| json`` as
before it.  Errors are Loki's: a line a stage cannot read keeps going with ``__error__`` (and
``__error_details__``) set; numeric label filters let such a line through, ``| __error__=""`` drops
it, and a metric query over a line still carrying it fails (:func:`error_message`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from observability_ui.query import regex
from observability_ui.query.logql_stages import (
    Binary,
    Comparison,
    LabelFilter,
    LineFilter,
    LineFormat,
    Parser,
    Stage,
    Unwrap,
    parse_bytes,
    parse_duration,
)

ERROR = "__error__"
ERROR_DETAILS = "__error_details__"
STREAM_LABELS = ("service", "level", "host", "logger")
_INVALID_LABEL_CHARACTER = re.compile(r"[^A-Za-z0-9_]")
_PATH_PART = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["([^"]*)"\]')
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:[Ii]nf|NaN)")
_CONVERT: dict[str, Callable[[str], float | None]] = {
    "": lambda text: float(text) if _NUMBER.fullmatch(text) else None,
    "duration": parse_duration,
    "duration_seconds": parse_duration,
    "bytes": parse_bytes,
}
_NUMERIC_KINDS = {"number": _CONVERT[""], "duration": parse_duration, "bytes": parse_bytes}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


@dataclass
class Record:
    """One stored log record as the pipeline reads it."""

    message: str
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, Any]
    attributes_text: str  # as stored: the stored line is the message, a space, then this
    stream: dict[str, str]


@dataclass
class Line:
    """A record on its way through the pipeline: its labels, its line, its unwrapped value."""

    record: Record
    labels: dict[str, str]
    line: str
    rewritten: bool = False  # by line_format: parsers then read this line, not the stored record
    value: float | None = None
    wanted: frozenset[str] | None = None  # the labels parsers extract (None: all)

    def lookup(self, name: str) -> str | None:
        """A label's value, else the record's field of that name, else None (missing)."""
        if name in self.labels or name in (ERROR, ERROR_DETAILS):
            return self.labels.get(name)
        if name in ("trace_id", "span_id"):
            return getattr(self.record, name)
        if name in self.record.attributes:
            return _text(self.record.attributes[name])
        return None

    def fail(self, error: str, details: str) -> None:
        if ERROR not in self.labels:
            self.labels[ERROR] = error
            self.labels[ERROR_DETAILS] = details


def _text(value: Any) -> str:
    """A JSON value as Loki's json parser writes it into a label (the JSON text of a number)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    return json.dumps(value)


@functools.lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    """A field name as a label: characters other than ``[A-Za-z0-9_]`` become ``_``, as in Loki."""
    name = _INVALID_LABEL_CHARACTER.sub("_", key)
    return f"_{name}" if name[:1].isdigit() else name


def _names(expression: Comparison | Binary) -> set[str]:
    if isinstance(expression, Binary):
        return _names(expression.left) | _names(expression.right)
    return {expression.label}


def referenced(stages: tuple[Stage, ...]) -> frozenset[str]:
    """The labels the stages read: a parser extracting only these (and those its caller needs)
    gives every stage the same answer, for a fraction of the work (Loki's parser hints)."""
    names: set[str] = set()
    for stage in stages:
        if isinstance(stage, LabelFilter):
            names |= _names(stage.expression)
        elif isinstance(stage, LineFormat):
            names.update(stage.parts[1::2])
        elif isinstance(stage, Unwrap):
            names.add(stage.label)
    return frozenset(names)


def run(stages: tuple[Stage, ...], record: Record, wanted: frozenset[str] | None = None) -> Line | None:
    """The record after every stage, or None when a filter dropped it; parsers extract only the
    labels in ``wanted`` (None: all)."""
    line = Line(record, dict(record.stream), f"{record.message} {record.attributes_text}", wanted=wanted)
    for stage in stages:
        if isinstance(stage, LineFilter):
            if not _line_matches(stage, line.line):
                return None
        elif isinstance(stage, Parser):
            _parse(stage, line)
        elif isinstance(stage, LabelFilter):
            if not _holds(stage.expression, line):
                return None
        elif isinstance(stage, LineFormat):
            line.line = "".join(
                part if index % 2 == 0 else (line.line if part == "__line__" else line.lookup(part) or "")
                for index, part in enumerate(stage.parts)
            )
            line.rewritten = True
        else:
            _unwrap(stage, line)
    return line


def error_message(line: Line) -> str:
    """Why a metric query cannot use a line that still carries ``__error__``, as Loki says it."""
    series = ", ".join(f"{name}={value!r}" for name, value in line.record.stream.items())
    return (
        f"pipeline error: '{line.labels[ERROR]}' ({line.labels.get(ERROR_DETAILS, '')}) for a line of "
        f'{{{series}}}; skip such lines with a label filter, like | __error__="" for all of them'
    )


def _line_matches(stage: LineFilter, text: str) -> bool:
    if stage.op in ("|=", "!="):
        return (stage.value in text) == (stage.op == "|=")
    return (regex.line_filter(stage.value).search(text) is not None) == (stage.op == "|~")


def _final(line: Line, key: str) -> str:
    """An extracted label's name: one named as a stream label gets ``_extracted``, as in Loki."""
    return f"{key}_extracted" if key in line.record.stream else key


def _wants(line: Line, key: str) -> bool:
    return line.wanted is None or _final(line, key) in line.wanted


def _set(line: Line, key: str, value: str) -> None:
    line.labels[_final(line, key)] = value


def _parse(stage: Parser, line: Line) -> None:
    if stage.kind == "json":
        _parse_json(stage, line)
    else:
        _parse_logfmt(stage, line)


def _json_document(line: Line) -> dict[str, Any] | None:
    """The record as the service wrote it (its message, ids and attributes), or the rewritten line."""
    if not line.rewritten:
        record = line.record
        ids = {"trace_id": record.trace_id, "span_id": record.span_id}
        return {
            "message": record.message,
            **{k: v for k, v in ids.items() if v is not None},
            **record.attributes,
        }
    try:
        document = json.loads(line.line)
    except (ValueError, RecursionError) as error:  # a line_format template can nest brackets deeply
        line.fail("JSONParserErr", str(error))
        return None
    if not isinstance(document, dict):
        line.fail("JSONParserErr", "the line is not a JSON object")
        return None
    return document


def _flatten(document: dict[str, Any], prefix: str, line: Line) -> None:
    """Every field, nested objects joined with ``_``; arrays and nulls are skipped, as Loki does.

    The commonest stage of all, on every line, so written for speed: one test per field of what
    the query wants."""
    wanted, stream, labels = line.wanted, line.record.stream, line.labels
    for key, value in document.items():
        name = prefix + label_name(key)
        if isinstance(value, dict):
            _flatten(value, name + "_", line)
            continue
        final = f"{name}_extracted" if name in stream else name
        if (wanted is None or final in wanted) and value is not None and not isinstance(value, list):
            labels[final] = _text(value)


def _parse_json(stage: Parser, line: Line) -> None:
    document = _json_document(line)
    if document is None:
        return
    if not stage.extract:
        _flatten(document, "", line)
        return
    for label, path in stage.extract:
        if not _wants(line, label):
            continue
        found = _follow(document, path)
        _set(line, label, "" if found is None else _text(found))


def _follow(document: Any, path: str) -> Any:
    """The value at a json parser's path (``a.b``, ``a[0]``, ``a["x.y"]``), or None."""
    at, value = 0, document
    while at < len(path):
        part = _PATH_PART.match(path, at)
        if part is None:
            return None
        key, index, quoted = part.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            value = value.get(quoted if key is None else key) if isinstance(value, dict) else None
        at = part.end()
    return value


def _logfmt_pairs(text: str, strict: bool) -> tuple[list[tuple[str, str | None]], str]:
    """``key=value`` pairs (``None`` for a bare key) and, with ``strict``, the error that stopped it.

    Not strict (Loki's default), a token that is not a pair is skipped up to the next space."""
    pairs: list[tuple[str, str | None]] = []
    at, end = 0, len(text)
    while at < end:
        while at < end and text[at] <= " ":
            at += 1
        if at == end:
            break
        start = at
        while at < end and text[at] > " " and text[at] not in '="':
            at += 1
        key = text[start:at]
        if not key or (at < end and text[at] == '"'):
            if strict:
                return pairs, f"unexpected {text[at]!r} at {at}"
            while at < end and text[at] > " ":
                at += 1
            continue
        if at == end or text[at] != "=":
            pairs.append((key, None))
            continue
        at += 1
        if at < end and text[at] == '"':
            try:
                value, length = json.JSONDecoder().raw_decode(text, at)
            except ValueError:
                if strict:
                    return pairs, f"unterminated quoted value at {at}"
                break
            pairs.append((key, str(value)))
            at = length
            continue
        start = at
        while at < end and text[at] > " " and text[at] not in '="':
            at += 1
        if at < end and text[at] > " ":
            if strict:
                return pairs, f"unexpected {text[at]!r} at {at}"
            while at < end and text[at] > " ":
                at += 1
            continue
        pairs.append((key, text[start:at]))
    return pairs, ""


def _parse_logfmt(stage: Parser, line: Line) -> None:
    """The message (or the rewritten line) as logfmt."""
    pairs, error = _logfmt_pairs(
        line.line if line.rewritten else line.record.message, "--strict" in stage.flags
    )
    keep_empty = "--keep-empty" in stage.flags
    renamed = {key: label for label, key in stage.extract}
    for key, value in pairs:
        if (value is None and not keep_empty) or not _wants(line, renamed.get(key, label_name(key))):
            continue
        if not renamed:
            _set(line, label_name(key), value or "")
        elif key in renamed:
            _set(line, renamed[key], value or "")
    if error:
        line.fail("LogfmtParserErr", error)


def _holds(expression: Comparison | Binary, line: Line) -> bool:
    if isinstance(expression, Binary):
        left = _holds(expression.left, line)
        if expression.op == "and":
            return left and _holds(expression.right, line)
        return _holds(expression.right, line) or left
    value = line.lookup(expression.label)
    if expression.kind == "string":
        text = value or ""
        if expression.op in ("=", "!="):
            return (text == expression.value) == (expression.op == "=")
        matched = regex.matcher(str(expression.value)).fullmatch(text) is not None
        return matched == (expression.op == "=~")
    if ERROR in line.labels:
        return True  # only a string comparison filters a line that has an error, as in Loki
    if value is None:
        return False
    number = _NUMERIC_KINDS[expression.kind](value)
    if number is None:
        line.fail("LabelFilterErr", f"{expression.label}={value!r} is not a {expression.kind}")
        return True
    return _COMPARE[expression.op](number, float(expression.value))


def _unwrap(stage: Unwrap, line: Line) -> None:
    """The sample value; the label itself leaves the series' labels, as Loki's unwrap does."""
    text = line.lookup(stage.label)
    value = None if text is None else _CONVERT[stage.conversion](text)
    if value is None:
        conversion = stage.conversion or "float"
        line.fail("SampleExtractionErr", f"{conversion} of {stage.label}={text or ''!r} failed")
    line.value = value
    line.labels.pop(stage.label, None)
