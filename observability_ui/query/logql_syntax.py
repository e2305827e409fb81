r"""The syntax half of the LogQL subset: the parsed query, its canonical text, the parser and ``build``.

Kept apart from execution (``logql.py``) so that what a query *means* can be read and tested without a
database.  There is no LogQL parser for Python (``logql`` and ``pylogql`` are not on the package index),
so this is a hand-written tokenizer and recursive-descent parser.  It reports every syntax error as a
:class:`LogQueryError` carrying the 0-based offset of the offending token, so the UI can point at it.

Grammar (whitespace is free between tokens)::

    query        = selector { line_filter | "|" stage }
    stage        = parser | label_filter | "line_format" string | "unwrap" ( label | conversion "(" label ")" )
    parser       = ( "json" | "logfmt" { flag } ) [ label "=" string { "," label "=" string } ]
    selector     = "{" [ matcher { "," matcher } ] "}"
    matcher      = stream_label ( "=" | "!=" | "=~" | "!~" ) string
    stream_label = "service" | "level" | "host" | "logger"
    line_filter  = ( "|=" | "!=" | "|~" | "!~" ) string
    label_filter = conjunction { "or" conjunction }
    conjunction  = term { [ "and" | "," ] term }
    term         = "(" label_filter ")" | field ( ( "=" | "!=" | "=~" | "!~" ) string
                 | ( ">" | ">=" | "<" | "<=" | "==" | "=" | "!=" ) ( number | duration | bytes ) )
    field        = [A-Za-z_][A-Za-z0-9_.]*      (a label, an attribute key, or a column such as trace_id)
    string       = '"' chars with \\ \" \n \r \t escapes '"'  |  "`" raw chars "`"
    number       = [-] digits [ "." digits ] [ exponent ]   duration = Go's (250ms, 1h30m)   bytes = 10KB, 1MiB

Until the first parser, ``line_format``, ``unwrap`` or compound label filter, single comparisons are
SQL's (:mod:`.logql`) and a field filter reads the record's field (attribute keys as stored, dots
included: ``| http.route="/users"``); from there on, the stages run per line in their order
(:mod:`.logql_pipeline`, what each means: :mod:`.logql_stages`).  Line filters are SQL's wherever
they are written, except after ``line_format``: parsers and label filters leave the line unchanged.  ``unwrap`` is only
accepted in a metric query's range (``parse(text, unwrap=True)``).

Differences from Loki: the empty selector ``{}`` is allowed (Loki needs one matcher), since a dataset
is small enough for "all logs" to be a useful start; the stream labels are the fixed columns above;
metric queries (``rate(...)``, ``count_over_time(...)``, ``sum by (level) (...)``) are
:mod:`.logql_metric`'s, and refused here with a message pointing there, since this grammar only
selects lines; Loki's other stages (``REFUSED_STAGES``) and ``ip()`` filters are refused by name;
double-quoted strings know only the escapes listed above.  Regexes are RE2's, as Loki's are
(:mod:`.regex`): stream matchers and label filters match the whole value, line filters anywhere in
the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from observability_ui.query import regex
from observability_ui.query.limits import QueryTooLarge, check_length
from observability_ui.query.logql_stages import (
    LOGFMT_FLAGS,
    UNWRAP_CONVERSIONS,
    Binary,
    Comparison,
    LabelFilter,
    LineFilter,
    LineFormat,
    Parser,
    Stage,
    Unwrap,
    format_number,
    parse_bytes,
    parse_duration,
    quote,
    template_parts,
)

STREAM_LABELS = ("service", "level", "host", "logger")
# Text columns of the logs table a field filter reads directly instead of looking in the attributes.
COLUMN_FIELDS = (*STREAM_LABELS, "trace_id", "span_id")
STRING_OPS = ("=", "!=", "=~", "!~")
_NUMBER_ONLY_OPS = (">", ">=", "<", "<=", "==")
NUMBER_OPS = (*_NUMBER_ONLY_OPS, "!=")
LINE_OPS = ("|=", "!=", "|~", "!~")
REGEX_OPS = ("=~", "!~", "|~")
_COMPARISON_OPS = (*STRING_OPS, *_NUMBER_ONLY_OPS)
PARSER_STAGES = ("json", "logfmt")
# Loki's stages this subset refuses, each by name.
REFUSED_STAGES = ("pattern", "regexp", "unpack", "label_format", "drop", "keep", "decolorize", "distinct")
# A function or aggregation applied to something: rate(, count_over_time(, sum by (level) (, topk(.
_METRIC_QUERY = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(")
# Longest first, so "|=" wins over "|" and ">=" over ">".
_PUNCTUATION = (
    "|>",
    "!>",
    "|=",
    "|~",
    "!=",
    "!~",
    "=~",
    "==",
    ">=",
    "<=",
    "=",
    ">",
    "<",
    "|",
    "{",
    "}",
    ",",
    "(",
    ")",
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_UNIT = re.compile(r"(?:[A-Za-zµμ]+\d*(?:\.\d+)?)+")  # what follows the number of 1h30m or 1.5KiB
_FLAG = re.compile(r"--[a-z-]+")
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


class LogQueryError(Exception):
    """A query the engine cannot run: a syntax error, an invalid regex, or a request outside the limits.

    ``message`` says what is wrong in words an engineer acts on; ``position`` is the 0-based offset in the
    query text it refers to, or None when the problem is not at one place (a limit, a time range).
    ``str(error)`` combines both.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class LabelMatcher:
    """``label op "value"`` inside the stream selector; regexes match the whole label value, as in Loki."""

    label: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.label}{self.op}{quote(self.value)}"


@dataclass(frozen=True)
class FieldFilter:
    """``| field op value``: a text comparison when ``value`` is a string, a numeric one when a float."""

    field: str
    op: str
    value: str | float

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return f"| {self.field}{self.op}{quote(self.value)}"
        return f"| {self.field} {self.op} {format_number(self.value)}"


@dataclass(frozen=True)
class LogQuery:
    """A parsed query: the selector, then the line and field filters that SQL runs (their order is
    free: every one must hold), then ``pipeline``, the stages from the first parser, ``line_format``
    or compound label filter on, which run per line in their written order (:mod:`.logql_pipeline`).

    ``str(query)`` is the canonical text: the selector, the line filters, the field filters, then the
    pipeline, all strings double-quoted.  An empty selector ``{}`` selects every stream; Loki requires
    at least one matcher, but a dataset is small enough that "all logs" is a useful starting point.
    """

    matchers: tuple[LabelMatcher, ...] = ()
    line_filters: tuple[LineFilter, ...] = ()
    field_filters: tuple[FieldFilter, ...] = ()
    pipeline: tuple[Stage, ...] = ()

    def __str__(self) -> str:
        selector = "{" + ", ".join(map(str, self.matchers)) + "}"
        parts = [*self.line_filters, *self.field_filters, *self.pipeline]
        return " ".join([selector, *map(str, parts)])

    @property
    def unwrap(self) -> Unwrap | None:
        """The ``unwrap`` stage of a metric query's log query, if it has one."""
        return next((stage for stage in self.pipeline if isinstance(stage, Unwrap)), None)


@dataclass(frozen=True)
class _Token:
    kind: str  # the operator or punctuation itself, or "string", "number", "ident", "end"
    text: str  # as written in the query
    value: str | float  # decoded string or number; the text otherwise
    position: int


def _check_length(text: str) -> None:
    try:
        check_length(text)
    except QueryTooLarge as exc:
        raise LogQueryError(exc.message) from None


def _read_string(text: str, start: int) -> _Token:
    """Read a string literal at ``start``: backticks are raw, double quotes take the escapes of quote()."""
    if text[start] == "`":
        end = text.find("`", start + 1)
        if end < 0:
            raise LogQueryError("unterminated raw string: missing the closing `", start)
        return _Token("string", text[start : end + 1], text[start + 1 : end], start)
    chars: list[str] = []
    index = start + 1
    while index < len(text) and text[index] != '"':
        if text[index] == "\\" and index + 1 < len(text):
            escaped = text[index + 1]
            if escaped not in _UNESCAPES:
                raise LogQueryError(
                    f"unknown escape \\{escaped} in a string (write \\\\ for a backslash, "
                    "or use a `raw string` for regexes)",
                    index,
                )
            chars.append(_UNESCAPES[escaped])
            index += 2
        else:
            chars.append(text[index])
            index += 1
    if index == len(text):
        raise LogQueryError('unterminated string: missing the closing "', start)
    return _Token("string", text[start : index + 1], "".join(chars), start)


def _read_token(text: str, start: int) -> _Token:
    """Read the token at ``start`` (not whitespace, not the end)."""
    if text[start] in '"`':
        return _read_string(text, start)
    if number := _NUMBER.match(text, start):
        if unit := _UNIT.match(text, number.end()):
            return _quantity(text[start : unit.end()], start)
        return _Token("number", number.group(), float(number.group()), start)
    if flag := _FLAG.match(text, start):
        return _Token("flag", flag.group(), flag.group(), start)
    if ident := _IDENT.match(text, start):
        return _Token("ident", ident.group(), ident.group(), start)
    for punctuation in _PUNCTUATION:
        if text.startswith(punctuation, start):
            return _Token(punctuation, punctuation, punctuation, start)
    raise LogQueryError(f"unexpected character {text[start]!r}", start)


def _quantity(literal: str, start: int) -> _Token:
    """A number with a unit: a Go duration (``250ms``, ``1h30m``) or a byte size (``1.5KiB``)."""
    if (seconds := parse_duration(literal)) is not None:
        return _Token("duration", literal, seconds, start)
    if (size := parse_bytes(literal)) is not None:
        return _Token("bytes", literal, size, start)
    raise LogQueryError(
        f"{literal} is neither a duration (like 250ms or 1h30m) nor a byte size (like 10KB or 1MiB)", start
    )


def _tokenize(text: str) -> list[_Token]:
    """Split the whole query up front, so the parser can look one token ahead."""
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            tokens.append(_Token("end", "", "", position))
            return tokens
        token = _read_token(text, position)
        tokens.append(token)
        position += len(token.text)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "string":
        return f"the string {token.text}"
    return f"'{token.text}'"


class _Parser:
    """Recursive descent over the token list; one method per grammar rule in the module docstring."""

    def __init__(self, text: str, unwrap: bool) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.unwrap_allowed = unwrap  # inside a metric query's range aggregation

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def accept(self, kind: str) -> bool:
        if self.token.kind != kind:
            return False
        self.index += 1
        return True

    def expect(self, kinds: tuple[str, ...], what: str) -> _Token:
        if self.token.kind not in kinds:
            raise LogQueryError(f"expected {what}, found {_describe(self.token)}", self.token.position)
        return self.advance()

    def query(self) -> LogQuery:
        matchers = self.selector()
        line_filters: list[LineFilter] = []
        field_filters: list[FieldFilter] = []
        pipeline: list[Stage] = []
        while self.token.kind != "end":
            if self.token.kind in ("|>", "!>"):
                raise LogQueryError(
                    f"pattern line filters ({self.token.kind}) are not supported: use |~ with a regex",
                    self.token.position,
                )
            if (
                self.token.kind == "ident"
                and self.token.text == "or"
                and self.tokens[self.index - 1].kind == "string"
            ):
                raise LogQueryError(
                    'or between line filters is not supported: use |~ "a|b"', self.token.position
                )
            if self.token.kind in LINE_OPS:
                if any(isinstance(done, Unwrap) for done in pipeline):
                    raise LogQueryError("only label filters may follow unwrap", self.token.position)
                op = self.advance().kind
                line_filter = LineFilter(op, self.string(op, line=True))
                # parsers and label filters leave the line as it is, so a line filter after them
                # holds as well before them, where SQL runs it; after line_format it reads the new line
                rewritten = any(isinstance(stage, LineFormat) for stage in pipeline)
                (pipeline if rewritten else line_filters).append(line_filter)
                continue
            self.expect(("|",), "a line filter (|= != |~ !~) or a field filter like | duration_ms > 1000")
            at = self.token.position
            stage = self.stage()
            if any(isinstance(done, Unwrap) for done in pipeline) and not isinstance(stage, LabelFilter):
                raise LogQueryError("only label filters may follow unwrap", at)
            simple = isinstance(stage, LabelFilter) and isinstance(stage.expression, Comparison)
            if simple and not pipeline and stage.expression.kind in ("string", "number"):
                field_filters.append(self.field_filter(stage.expression))
            else:
                pipeline.append(stage)
        return LogQuery(tuple(matchers), tuple(line_filters), tuple(field_filters), tuple(pipeline))

    def stage(self) -> Stage:
        """What follows a ``|``: a parser, ``line_format``, ``unwrap`` or a label filter expression."""
        token = self.token
        follows = self.tokens[min(self.index + 1, len(self.tokens) - 1)].kind
        if token.kind != "ident" or follows in _COMPARISON_OPS:
            return LabelFilter(self.label_expression())
        if token.text in REFUSED_STAGES:
            raise LogQueryError(
                f"| {token.text} is not supported: extract fields with | json or | logfmt", token.position
            )
        if token.text in PARSER_STAGES:
            self.advance()
            flags: list[str] = []
            while self.token.kind == "flag":
                if token.text != "logfmt" or self.token.text not in LOGFMT_FLAGS:
                    raise LogQueryError(f"{token.text} has no flag {self.token.text}", self.token.position)
                flags.append(self.advance().text)
            return Parser(token.text, self.extractions(), tuple(flags))
        if token.text == "line_format":
            self.advance()
            template = self.expect(("string",), 'a template after line_format, like "{{.status}}"')
            parts = template_parts(str(template.value))
            if isinstance(parts, str):
                raise LogQueryError(
                    f"line_format supports field references like {{{{.status}}}} and {{{{__line__}}}} only, "
                    f"not {parts}",
                    template.position,
                )
            return LineFormat(str(template.value), parts)
        if token.text == "unwrap":
            return self.unwrap()
        return LabelFilter(self.label_expression())

    def extractions(self) -> tuple[tuple[str, str], ...]:
        """``label="path"`` pairs after ``json``/``logfmt``, comma-separated (none: extract all)."""
        pairs: list[tuple[str, str]] = []
        while self.token.kind == "ident" and self.tokens[self.index + 1].kind == "=":
            label = self.advance().text
            self.advance()
            pairs.append((label, self.string("=")))
            if not self.accept(","):
                break
        return tuple(pairs)

    def unwrap(self) -> Unwrap:
        token = self.advance()
        if not self.unwrap_allowed:
            raise LogQueryError(
                "unwrap takes a metric query's values, like sum_over_time({...} | json | unwrap duration_ms [1m])",
                token.position,
            )
        name = self.expect(("ident",), "a label to unwrap").text
        if not self.accept("("):
            return Unwrap(name)
        if name not in UNWRAP_CONVERSIONS:
            raise LogQueryError(
                f"unknown unwrap conversion {name}(): the conversions are {', '.join(UNWRAP_CONVERSIONS)}",
                token.position,
            )
        label = self.expect(("ident",), f"a label inside {name}()").text
        self.expect((")",), f"')' after {name}({label}")
        return Unwrap(label, name)

    def label_expression(self) -> Comparison | Binary:
        """``and`` binds tighter than ``or``; a comma or mere juxtaposition means ``and``."""
        left = self.label_conjunction()
        while self.token.kind == "ident" and self.token.text == "or":
            self.advance()
            left = Binary("or", left, self.label_conjunction())
        return left

    def label_conjunction(self) -> Comparison | Binary:
        left = self.label_term()
        while True:
            if (self.token.kind == "ident" and self.token.text == "and") or self.token.kind == ",":
                self.advance()
            elif not (self.token.kind == "(" or (self.token.kind == "ident" and self.token.text != "or")):
                return left
            left = Binary("and", left, self.label_term())

    def label_term(self) -> Comparison | Binary:
        if self.accept("("):
            inner = self.label_expression()
            self.expect((")",), "')' to close the label filter")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        label = self.expect(("ident",), 'a label filter like status >= 500 or level="error"').text
        op = self.expect(_COMPARISON_OPS, f"a comparison (= != =~ !~ > >= < <= ==) after {label}").kind
        if self.token.kind == "string":
            return Comparison(label, op, self.string(op))
        if self.token.text == "ip" and self.tokens[self.index + 1].kind == "(":
            raise LogQueryError("ip() label filters are not supported", self.token.position)
        value = self.expect(("number", "duration", "bytes"), f"a quoted string or a number after {op}")
        if op not in (*NUMBER_OPS, "="):
            raise LogQueryError(f'{op} needs a quoted string, like {label}{op}"5.."', value.position)
        literal = "" if value.kind == "number" else value.text
        return Comparison(label, "==" if op == "=" else op, value.value, value.kind, literal)

    def selector(self) -> list[LabelMatcher]:
        self.expect(("{",), 'a stream selector like {service="platform-api"}')
        if self.accept("}"):
            return []
        matchers = [self.matcher()]
        while self.accept(","):
            matchers.append(self.matcher())
        self.expect(("}",), "',' or '}' after a label matcher")
        return matchers

    def matcher(self) -> LabelMatcher:
        label = self.expect(("ident",), 'a label matcher like service="api"')
        if label.text not in STREAM_LABELS:
            raise LogQueryError(
                f"unknown stream label '{label.text}': the labels are {', '.join(STREAM_LABELS)}; filter "
                f'other fields after the selector, like | {label.text}="..."',
                label.position,
            )
        op = self.expect(STRING_OPS, f"a matcher operator (= != =~ !~) after {label.text}").kind
        return LabelMatcher(label.text, op, self.string(op))

    def field_filter(self, comparison: Comparison) -> FieldFilter:
        """A comparison before any parser: SQL reads the record's field (:mod:`.logql`)."""
        if comparison.kind == "number" and comparison.label in COLUMN_FIELDS:
            raise LogQueryError(
                f"{comparison.label} is text: compare it with a quoted string",
                self.tokens[self.index - 1].position,
            )
        return FieldFilter(comparison.label, comparison.op, comparison.value)

    def string(self, op: str, line: bool = False) -> str:
        """The string operand of ``op`` (of a line filter when ``line``); a regex operand must compile
        on RE2, or the error points at it."""
        token = self.expect(("string",), f"a quoted string after {op}")
        value = str(token.value)
        if op in REGEX_OPS:
            check = regex.line_filter if line else regex.matcher
            try:
                check(value)
            except regex.RegexError as exc:
                raise LogQueryError(f"invalid regex {token.text}: {exc.reason}", token.position) from exc
        elif op in _NUMBER_ONLY_OPS:
            raise LogQueryError(
                f"{op} compares numbers: write the value without quotes, like {op} 500", token.position
            )
        return value


def _refuse_metric_query(text: str) -> None:
    """Name a LogQL metric query for what it is, instead of failing on its first ``(`` as a syntax error."""
    match = _METRIC_QUERY.match(text)
    if match:
        raise LogQueryError(
            f"{match.group(1)}(...) is a LogQL metric query; only log queries list lines, like "
            '{service="platform-api"} |= "timeout". The Logs page charts a metric query, and '
            "/api/logs/query_range answers it",
            match.start(1),
        )


def parse(text: str, unwrap: bool = False) -> LogQuery:
    """Parse query text (at most :data:`~observability_ui.query.limits.MAX_QUERY_LENGTH` characters)
    into a :class:`LogQuery`; ``unwrap`` when it is a metric query's, which may unwrap a label."""
    _check_length(text)
    _refuse_metric_query(text)
    return _Parser(text, unwrap).query()


def build(
    service: str | None = None,
    level: str | Iterable[str] | None = None,
    contains: str | None = None,
    trace_id: str | None = None,
) -> LogQuery:
    """The query behind the Logs view's form, so the form and the query box always agree.

    Blank values mean "no filter".  ``level`` may be several levels (a multi-select), which becomes one
    anchored alternation.  ``trace_id`` is stripped because it is usually pasted.
    """
    matchers: list[LabelMatcher] = []
    if service:
        matchers.append(LabelMatcher("service", "=", service))
    levels = [name for name in ([level] if isinstance(level, str) else level or ()) if name]
    if len(levels) == 1:
        matchers.append(LabelMatcher("level", "=", levels[0]))
    elif levels:
        matchers.append(LabelMatcher("level", "=~", "|".join(map(re.escape, levels))))
    trace_id = (trace_id or "").strip()
    query = LogQuery(
        matchers=tuple(matchers),
        line_filters=(LineFilter("|=", contains),) if contains else (),
        field_filters=(FieldFilter("trace_id", "=", trace_id),) if trace_id else (),
    )
    _check_length(str(query))
    return query
