"""The one validation layer: every query parameter of every endpoint, JSON API and page alike, is
read by the schema the OpenAPI document gives it (:mod:`observability_ui.openapi`) before a view
sees it, and views take their values from here rather than from ``request.args``.

Why one layer: Python's ``int()`` and ``float()`` take ``1_000``, Arabic-Indic digits, ``nan`` and
``inf``, so views that each parsed their own parameters refused some bad values, failed on others
(a 5,000-digit number, ``1e300``) and quietly used or ignored the rest.  Here a value is checked
once, by the same rules everywhere: ASCII digits only, finite numbers inside the schema's bounds,
enums, lengths, patterns and formats.  An empty value is the parameter's default, as an HTML form
sends an untouched field, wherever its schema allows the empty string (and only there).

An ``/api/`` call with any bad parameter is refused whole; a page keeps each problem for its view,
which shows it beside the input it concerns (:func:`value` raises it) with the rest of the page.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import g
from werkzeug.datastructures import MultiDict

from observability_ui.request_context import UiError
from obsim.timerange import TimeRangeError, check_instant, shown

Schema = dict[str, Any]

_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# What ``format`` names a check for; a time is checked as the time picker reads it.
FORMATS: dict[str, Callable[[str], None]] = {"instant": check_instant}
# The schema keywords this layer enforces; a parameter schema using any other would state a rule
# nothing applies (tests/test_validation.py holds the document to this).
ENFORCED = {
    "type",
    "enum",
    "const",
    "anyOf",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "maxItems",
}
DOCUMENTING = {"description", "default", "examples"}
# An unknown service, job... is answered with the known ones, all of them up to this many.
LISTED_AT_MOST = 30


class Invalid(ValueError):
    """One parameter's value cannot be used; the message says why, without the parameter's name."""


def check(raw: str, schema: Schema, form: str = "see /api/openapi.json") -> Any:
    """The value of ``raw`` under ``schema``: an ``int`` for an integer, a ``float`` for a number,
    else the text; :class:`Invalid` saying why not (``form`` says what a pattern means)."""
    if "anyOf" in schema:
        problems = []
        for option in schema["anyOf"]:
            try:
                return check(raw, option, form)
            except Invalid as problem:
                problems.append(str(problem))
        raise Invalid(problems[0])  # the first option is the parameter's real type; "" is the other
    if "const" in schema and raw != schema["const"]:
        raise Invalid(f"must be {schema['const']!r}")
    if "enum" in schema and raw not in schema["enum"]:
        listed = ", ".join(str(option) for option in schema["enum"] if option != "")
        raise Invalid(f"unknown value {shown(raw)}; use one of: {listed}")
    kind = schema.get("type", "string")
    if kind == "integer":
        return _bounds(_integer(raw), schema)
    if kind == "number":
        return _bounds(_number(raw), schema)
    if len(raw) < schema.get("minLength", 0):
        raise Invalid("cannot be empty")
    if len(raw) > schema.get("maxLength", math.inf):
        raise Invalid(f"longer than {schema['maxLength']} characters")
    if "pattern" in schema and not re.fullmatch(schema["pattern"], raw):
        raise Invalid(f"cannot read {shown(raw)}: {form}")
    if "format" in schema and raw:  # empty is the default here too
        try:
            FORMATS[schema["format"]](raw)
        except TimeRangeError as error:
            raise Invalid(str(error)) from None
    return raw


def _integer(raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise Invalid(f"must be a whole number in ASCII digits, not {shown(raw)}")
    try:
        return int(raw)
    except ValueError:  # more digits than int() will read: far out of any range
        raise Invalid(f"{shown(raw)} is out of range") from None


def _number(raw: str) -> float:
    if not _NUMBER.fullmatch(raw):
        raise Invalid(f"must be a number in ASCII digits (like 15 or 0.5), not {shown(raw)}")
    number = float(raw)
    if not math.isfinite(number):
        raise Invalid(f"{shown(raw)} is out of range")
    return number


def _bounds(number: float, schema: Schema) -> Any:
    low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
    if low <= number <= high:
        return number
    if high == math.inf:
        raise Invalid(f"must be at least {low:g}, not {number:g}")
    if low == -math.inf:
        raise Invalid(f"must be at most {high:g}, not {number:g}")
    raise Invalid(f"must be between {low:g} and {high:g}, not {number:g}")


def read(parameters: Iterable[Schema], given: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every documented parameter's value (those not given or empty are left out) and, for each
    one that cannot be used, why (the message starts with its name).  An ``array`` parameter
    (Prometheus's ``match[]``) may be given many times: its value is the list, each item read by
    the ``items`` schema."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for parameter in parameters:
        if parameter["schema"].get("type") == "array":
            try:
                values[parameter["name"]] = _items(given.getlist(parameter["name"]), parameter)
            except Invalid as problem:
                errors[parameter["name"]] = f"{parameter['name']}: {problem}"
            continue
        name, raw = parameter["name"], given.get(parameter["name"], "")
        if raw == "" and parameter.get("required"):
            errors[name] = f"{name} is required: {parameter['description']}"
            continue
        try:
            value = check(raw, parameter["schema"], parameter["description"])
        except Invalid as problem:
            errors[name] = f"{name}: {problem}"
            continue
        if value != "":
            values[name] = value
    return values, errors


def _items(raw: list[str], parameter: Schema) -> list[Any]:
    schema = parameter["schema"]
    if not raw and parameter.get("required"):
        raise Invalid(f"is required: {parameter['description']}")
    if len(raw) > schema.get("maxItems", math.inf):
        raise Invalid(f"given more than {schema['maxItems']} times")
    return [check(item, schema.get("items", {}), parameter["description"]) for item in raw]


def store(values: dict[str, Any], errors: dict[str, str]) -> None:
    """Keep this request's parameters for :func:`value` (called by the app's validation hook)."""
    g.query_values, g.query_errors = values, errors


def value(name: str, default: Any = None) -> Any:
    """This request's value of ``name`` as its schema reads it, ``default`` when not given (or
    empty), or a :class:`UiError` saying why the value given cannot be used."""
    if name in g.query_errors:
        raise UiError(g.query_errors[name])
    return g.query_values.get(name, default)


def ensure(*names: str) -> None:
    """Raise the layer's verdict on ``names`` before a helper reads them as typed (the time range
    and ``at`` are resolved from the text, against the recording, by :mod:`request_context`)."""
    for name in names:
        value(name)


def known(name: str, typed: str, values: list[str]) -> str:
    """``typed`` when it is one of the recording's ``values`` (a service, a job...), else a
    :class:`UiError` listing them (the closest ones, of a long list): an unknown one would only find
    nothing, which reads as a quiet period rather than a typo."""
    if not typed or typed in values:
        return typed
    if len(values) <= LISTED_AT_MOST:
        listed = f"use one of: {', '.join(values) or '(none recorded)'}"
    else:
        close = difflib.get_close_matches(typed, values, n=5, cutoff=0.5) or values[:5]
        listed = f"{len(values)} are known, among them: {', '.join(close)}"
    raise UiError(f"unknown {name} {shown(typed)}; {listed}")
