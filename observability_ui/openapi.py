"""The OpenAPI 3.1 document of the candidate platform's JSON API, served at ``/api/openapi.json``.

Every page is drawn from the same functions its ``/api/...`` twin returns, so a script (or a
candidate who prefers ``curl``) sees exactly what the page shows.  The document is written out
here rather than generated from decorators: the views stay plain Flask, and a test holds the two
together — every ``/api/`` rule must be documented, every documented path must exist, and every
real response is validated against its schema.

The document is also what the app enforces (:mod:`observability_ui.params`, one hook in ``application.py``):
a query parameter an operation does not list is refused (:func:`undocumented_query`), so a script
that says ``time=`` or ``limit=`` learns at once that it is not asking what it thinks; and every
listed one is read by its schema, so the schemas below state the real constraints (bounds, enums,
lengths, patterns, the ``instant`` format of a time).  Each page is checked against its ``/api/``
twin's parameters (:data:`PAGES`), so a value refused by the API is refused by the page too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from interview.store import Clock, Refusal
from observability_ui.protection import FIELD_LIMITS, MAX_FIELD_CHARS
from observability_ui.query.limits import MAX_QUERY_LENGTH
from observability_ui.query.logql import LEVELS
from observability_ui.views.code import MAX_PATH_LENGTH, SEARCH_LIMIT, SEARCH_MAX_LENGTH
from observability_ui.views.database import HISTORY_COLUMNS, MAX_MIN_AGE_S, STATES
from observability_ui.views.database import SORTS as SESSION_SORTS
from observability_ui.views.jobs import OUTCOMES, RUN_LIMIT
from observability_ui.views.logs import MAX_OFFSET, PAGE_SIZE
from observability_ui.views.metrics_explorer import MAX_STEP_S
from observability_ui.views.traces import DURATION_PATTERN, MAX_LIMIT, SORTS
from obsim.timerange import shown

Schema = dict[str, Any]

NUMBER: Schema = {"type": "number"}
NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object whose properties are all required except ``optional``."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _query(name: str, description: str, schema: Schema | None = None, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or TEXT,
    }


def _or_empty(schema: Schema) -> Schema:
    """A number a form may send empty: empty is the default, as for every parameter."""
    return {"anyOf": [schema, {"const": ""}]}


def _one_of(*values: str) -> Schema:
    """One of ``values``, or empty for the default."""
    return {"type": "string", "enum": ["", *values]}


# Free text: long enough for any real query or filter, short of a pasted file.
TEXT: Schema = {"type": "string", "maxLength": 200}
QUERY_TEXT: Schema = {"type": "string", "maxLength": MAX_QUERY_LENGTH}
# A time as the picker reads it (obsim/timerange.py): now-15m, ISO 8601 or epoch s/ms,
# ASCII digits only, between 1970 and 9999, at most ten years back.
TIME: Schema = {"type": "string", "maxLength": 64, "format": "instant"}
NAMED = "; one the recording has (an unknown one is refused, with the known ones listed)"

RANGE_PARAMETERS = [
    _query("from", "Start: `now-15m`, ISO 8601 (UTC unless an offset is given) or epoch seconds/ms.", TIME),
    _query("to", "End, in the same forms; default `now`, the end of the recording.", TIME),
]
AT_PARAMETER = _query(
    "at",
    "The instant to show (same forms as `from`), inside the recording; default: the range's end"
    " (`to`). Given, it is the instant shown: the range does not move it.",
    TIME,
)
PROMQL_PARAMETER = _query("query", "PromQL.", {**QUERY_TEXT, "minLength": 1}, required=True)

POINT: Schema = {
    "type": "array",
    "prefixItems": [NUMBER, NULLABLE_NUMBER],
    "minItems": 2,
    "maxItems": 2,
    "description": "[epoch seconds, value]; null where the value is NaN or infinite.",
}
COUNT_POINT: Schema = {**POINT, "prefixItems": [NUMBER, NUMBER]}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": STRING,
            "position": {
                "type": ["integer", "null"],
                "description": "for a query the engine cannot read: the 0-based offset of the problem",
            },
        },
        optional=("position",),
    ),
    "Range": _object({"start": NUMBER, "end": NUMBER, "start_iso": STRING, "end_iso": STRING}),
    "Labels": {"type": "object", "additionalProperties": STRING},
    "RangeSeries": _object({"labels": _ref("Labels"), "points": _array(POINT)}),
    "NamedSeries": _object({"name": STRING, "points": _array(COUNT_POINT)}),
    "PanelSeries": _object(
        {"query": STRING, "name": STRING, "labels": _ref("Labels"), "points": _array(POINT)}
    ),
    "RouteStats": _object(
        {
            "operation": {
                **STRING,
                "description": "method and route, as the application's server spans are named",
            },
            "method": STRING,
            "route": STRING,
            "rate": {**NULLABLE_NUMBER, "description": "requests per second over the range"},
            "errors": {**NULLABLE_NUMBER, "description": "share of 5xx responses, in %"},
            "p50": NULLABLE_NUMBER,
            "p95": NULLABLE_NUMBER,
            "p99": NULLABLE_NUMBER,
        }
    ),
    "LogEntry": _object(
        {
            "id": INTEGER,
            "ts": NUMBER,
            "service": STRING,
            "host": STRING,
            "level": STRING,
            "logger": STRING,
            "message": STRING,
            "trace_id": NULLABLE_STRING,
            "span_id": NULLABLE_STRING,
            "attributes": {"type": "object"},
        }
    ),
    "TraceSummary": _object(
        {
            "trace_id": STRING,
            "service": STRING,
            "name": STRING,
            "start": NUMBER,
            "duration": {
                **NUMBER,
                "description": "whole-trace duration, from its first span's start to its last span's end, seconds",
            },
            "status": STRING,
            "spans": INTEGER,
            "errors": INTEGER,
        }
    ),
    "Span": _object(
        {
            "span_id": STRING,
            "parent_id": NULLABLE_STRING,
            "service": STRING,
            "name": STRING,
            "kind": STRING,
            "start": NUMBER,
            "duration": NUMBER,
            "status": STRING,
            "status_message": NULLABLE_STRING,
            "attributes": {"type": "object"},
            "events": _array({"type": "object"}),
            "depth": {
                **INTEGER,
                "description": "nesting depth in the waterfall; spans are in depth-first order",
            },
            "code_url": {
                **NULLABLE_STRING,
                "description": "the code browser's URL of the span's code.* line",
            },
        }
    ),
    "TraceLog": _object(
        {"ts": NUMBER, "level": STRING, "service": STRING, "message": STRING, "span_id": NULLABLE_STRING}
    ),
    "Session": _object(
        {
            "pid": INTEGER,
            "datname": NULLABLE_STRING,
            "usename": NULLABLE_STRING,
            "application_name": NULLABLE_STRING,
            "client_addr": NULLABLE_STRING,
            "backend_start": NULLABLE_NUMBER,
            "xact_start": NULLABLE_NUMBER,
            "query_start": NULLABLE_NUMBER,
            "state_change": NULLABLE_NUMBER,
            "state": NULLABLE_STRING,
            "wait_event_type": NULLABLE_STRING,
            "wait_event": NULLABLE_STRING,
            "query": NULLABLE_STRING,
            "blocked_by": {
                **_array(INTEGER),
                "description": "pg_blocking_pids(pid): the sessions holding this one up; empty when none",
            },
        }
    ),
    "BlockingSession": _object(
        {
            "pid": INTEGER,
            "state": NULLABLE_STRING,
            "application_name": NULLABLE_STRING,
            "usename": NULLABLE_STRING,
            "wait_event_type": NULLABLE_STRING,
            "wait_event": NULLABLE_STRING,
            "query": NULLABLE_STRING,
            "blocked_by": _array(INTEGER),
            "xact_age": {**NULLABLE_NUMBER, "description": "seconds since its transaction began"},
            "waiting": {
                **NULLABLE_NUMBER,
                "description": "seconds waiting (since its state_change), null when it waits on no one",
            },
            "waiter_count": {**INTEGER, "description": "sessions waiting beneath it in this tree"},
            "waiters": _array(_ref("BlockingSession")),
        }
    ),
    "Job": _object(
        {
            "id": STRING,
            "name": NULLABLE_STRING,
            "func": NULLABLE_STRING,
            "trigger": STRING,
            "jitter": NULLABLE_NUMBER,
            "max_instances": {"type": ["integer", "null"]},
            "coalesce": {"type": ["boolean", "integer", "null"]},
            "misfire_grace_time": NULLABLE_NUMBER,
            "executor": NULLABLE_STRING,
            "executor_workers": {"type": ["integer", "null"]},
            "last_run": NULLABLE_NUMBER,
            "next_run": NULLABLE_NUMBER,
        }
    ),
    "JobRun": _object(
        {
            "run_id": {"type": ["integer", "string"]},
            "job_id": STRING,
            "scheduled_at": NUMBER,
            "started_at": NULLABLE_NUMBER,
            "finished_at": NULLABLE_NUMBER,
            "outcome": {"type": "string", "enum": list(OUTCOMES)},
            "trace_id": NULLABLE_STRING,
            "error": NULLABLE_STRING,
        }
    ),
}


def _json(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


BAD_INPUT = _json(
    _ref("Error"),
    "The input cannot be used (a value it cannot read, or a query parameter this operation does not "
    "list); `error` says why.",
)
NOT_FOUND = _json(_ref("Error"), "No such thing in this dataset.")
BAD_QUERY = _json(_ref("Error"), "The query or range cannot be used; `error` says why and `position` where.")
OVER_BUDGET = _json(
    _ref("Error"),
    "The request's queries ran longer than the time budget and were cancelled; `error` says so: "
    "narrow the range or simplify the query.",
)


def _get(summary: str, parameters: list[Schema], ok: Schema, *errors: tuple[str, Schema]) -> Schema:
    responses = {"200": _json(ok), "400": BAD_INPUT, **dict(errors), "503": OVER_BUDGET}
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


WARNINGS: Schema = {
    **_array(STRING),
    "description": "what may make the answer not what was meant, e.g. a metric name no series has "
    "(with the closest names): an empty `series` from a misspelt name looks like a quiet period",
}

LOG_PARAMETERS = [
    *RANGE_PARAMETERS,
    _query(
        "query",
        'LogQL, e.g. `{service="platform-api",level="error"} |= "timeout"`; give it or the form filters,'
        " not both (they would contradict it).",
        QUERY_TEXT,
    ),
    _query("service", "Form filter" + NAMED + "."),
    _query("level", "Form filter.", _one_of(*LEVELS)),
    _query("contains", "Form filter (line contains)."),
    _query(
        "trace_id",
        "Form filter: a trace id, 32 lowercase hex characters.",
        {"type": "string", "pattern": "^([0-9a-f]{32})?$"},
    ),
]
LOG_SEARCH_PARAMETERS = [
    *LOG_PARAMETERS,
    _query(
        "offset",
        "Records to skip, for paging.",
        _or_empty({"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
    ),
    _query(
        "direction",
        "Loki's order of the lines: `backward`, newest first (the default), or `forward`, oldest first.",
        _one_of("backward", "forward"),
    ),
]
TRACE_SEARCH_PARAMETERS = [
    *RANGE_PARAMETERS,
    _query("service", "A service with a span in the trace" + NAMED + "."),
    _query(
        "operation",
        "A span name in the trace (with `service`, a span of that service)" + NAMED + ".",
    ),
    _query(
        "tags",
        "`key=value` pairs a span must carry, each the attribute's whole value, e.g."
        " `http.response.status_code=503`; `error=true` is the same as `errors=1`. A form no"
        " span can match (`=~`, `!=`, `>=`, an empty value, a key no span has) is refused.",
        {"type": "string", "maxLength": 1000},
    ),
    _query(
        "min_duration",
        "Whole-trace duration at least this: `250ms`, `2s`, `1.5m` (a bare number is milliseconds).",
        {"type": "string", "maxLength": 32, "pattern": DURATION_PATTERN},
    ),
    _query(
        "max_duration",
        "Whole-trace duration at most this, in the same forms.",
        {"type": "string", "maxLength": 32, "pattern": DURATION_PATTERN},
    ),
    _query("errors", "`1`: only traces with an error span.", _one_of("1")),
    _query(
        "limit",
        f"At most this many traces (1-{MAX_LIMIT}, default 50); a larger one is refused, not clamped.",
        _or_empty({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    ),
    _query(
        "sort",
        "Order, as Jaeger's: "
        + ", ".join(f"`{key}` ({label.lower()})" for key, (label, _) in SORTS.items())
        + "; default `recent`.",
        _one_of(*SORTS),
    ),
]
SESSION_PARAMETERS = [
    *RANGE_PARAMETERS,
    AT_PARAMETER,
    _query("state", "Only sessions in this state.", _one_of(*STATES)),
    _query("application", "Only sessions of this application_name" + NAMED + "."),
    _query(
        "min_age",
        "Only transactions open at least this many seconds.",
        _or_empty({"type": "number", "minimum": 0, "maximum": MAX_MIN_AGE_S}),
    ),
    _query("sort", "Order (default xact_age).", _one_of(*SESSION_SORTS)),
]
RUN_PARAMETERS = [
    *RANGE_PARAMETERS,
    _query("job", "One job id" + NAMED + "."),
    _query("outcome", "One outcome.", _one_of(*OUTCOMES)),
]
CODE_SEARCH_PARAMETERS = [
    _query(
        "q",
        f"Text to find (not only spaces), up to {SEARCH_MAX_LENGTH} characters.",
        {"type": "string", "minLength": 1, "maxLength": SEARCH_MAX_LENGTH, "pattern": r"^\s*\S[\s\S]*$"},
        required=True,
    )
]

PATHS: dict[str, Schema] = {
    "/api/openapi.json": _get(
        "This document.", [], _object({"openapi": STRING, "paths": {"type": "object"}})
    ),
    "/api/dataset": _get(
        "The recording's time window and the incident brief.",
        [],
        _object({"window": _ref("Range"), "brief": STRING}),
    ),
    "/api/overview": _get(
        "Every overview panel's series and the per-route RED table over the range (default last 3 h).",
        RANGE_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "panels": _array(
                    _object({"title": STRING, "unit": STRING, "series": _array(_ref("PanelSeries"))})
                ),
                "routes": _array(_ref("RouteStats")),
                "gateway_5xx_percent": {
                    **NULLABLE_NUMBER,
                    "description": "share of all requests the gateway answered with 5xx (its timeouts included)",
                },
                "deploys": {
                    **_array(_object({"at": NUMBER, "version": STRING})),
                    "description": "releases that started serving inside the range (a new service_build_info version)",
                },
            }
        ),
    ),
    "/api/metrics/names": _get("Every metric sample name.", [], _object({"names": _array(STRING)})),
    "/api/metrics/labels": _get(
        "A metric's label names and the values each takes.",
        [_query("metric", "A name from /api/metrics/names.", {**TEXT, "minLength": 1}, required=True)],
        _object({"metric": STRING, "labels": {"type": "object", "additionalProperties": _array(STRING)}}),
        ("404", NOT_FOUND),
    ),
    "/api/metrics/query_range": _get(
        "Evaluate PromQL over the range (default last hour) at `step` seconds (default 15).",
        [
            PROMQL_PARAMETER,
            *RANGE_PARAMETERS,
            _query(
                "step",
                f"Seconds between points, 1 to {MAX_STEP_S:g}.",
                _or_empty({"type": "number", "minimum": 1, "maximum": MAX_STEP_S}),
            ),
        ],
        _object(
            {
                "range": _ref("Range"),
                "step": NUMBER,
                "series": _array(_ref("RangeSeries")),
                "warnings": WARNINGS,
            }
        ),
        ("400", BAD_QUERY),
    ),
    "/api/metrics/query": _get(
        "Evaluate PromQL at one instant.",
        [PROMQL_PARAMETER, *RANGE_PARAMETERS, AT_PARAMETER],
        _object(
            {
                "at": NUMBER,
                "series": _array(_object({"labels": _ref("Labels"), "value": NULLABLE_NUMBER})),
                "warnings": WARNINGS,
            }
        ),
        ("400", BAD_QUERY),
    ),
    "/api/logs": _get(
        "One page of matching log records, newest first (or oldest, `direction=forward`), and how many"
        " match in all.",
        LOG_SEARCH_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "query": STRING,
                "total": INTEGER,
                "offset": INTEGER,
                "limit": {
                    **INTEGER,
                    "description": f"the page size, always {PAGE_SIZE}: page through `total` with `offset`",
                },
                "direction": {"type": "string", "enum": ["backward", "forward"]},
                "entries": _array(_ref("LogEntry")),
            }
        ),
    ),
    "/api/logs/volume": _get(
        "Matching records per level in equal buckets (about one a minute, 20 to 120).",
        LOG_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "query": STRING,
                "bucket_starts": _array(NUMBER),
                "levels": {"type": "object", "additionalProperties": _array(INTEGER)},
            }
        ),
    ),
    "/api/logs/query_range": _get(
        "A LogQL metric query (`count_over_time`, `rate`, the unwrapped `*_over_time` functions,"
        " `sum`/`count`/`min`/`max`/`avg` by or without labels, `topk`/`bottomk`) over the range"
        " (default last 15 min) at `step` seconds.",
        [
            _query(
                "query",
                'LogQL metric query, e.g. `sum by (level) (count_over_time({service="platform-api"} |= "timeout" [1m]))`.',
                {**QUERY_TEXT, "minLength": 1},
                required=True,
            ),
            *RANGE_PARAMETERS,
            _query(
                "step",
                f"Seconds between points, 1 to {MAX_STEP_S:g}; default about 240 points over the range.",
                _or_empty({"type": "number", "minimum": 1, "maximum": MAX_STEP_S}),
            ),
        ],
        _object({"range": _ref("Range"), "step": NUMBER, "series": _array(_ref("RangeSeries"))}),
    ),
    "/api/traces": _get(
        "Traces in the range (default last 15 min) matching every filter, in the order `sort` asks.",
        TRACE_SEARCH_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "sort": {"type": "string", "enum": list(SORTS)},
                "total": INTEGER,
                "traces": _array(_ref("TraceSummary")),
            }
        ),
    ),
    "/api/traces/{trace_id}": {
        "get": {
            "summary": "A trace's spans in waterfall order and its logs.",
            "parameters": [
                {
                    "name": "trace_id",
                    "in": "path",
                    "required": True,
                    "description": "32 lowercase hex characters.",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                },
            ],
            "responses": {
                "200": _json(
                    _object(
                        {
                            "trace_id": STRING,
                            "spans": _array(_ref("Span")),
                            "logs": _array(_ref("TraceLog")),
                        }
                    )
                ),
                "400": BAD_INPUT,
                "404": NOT_FOUND,
                "503": OVER_BUDGET,
            },
        }
    },
    "/api/database/sessions": _get(
        "pg_stat_activity as sampled at or just before the instant, with counts by state and who blocks whom.",
        SESSION_PARAMETERS,
        _object(
            {
                "snapshot": NULLABLE_NUMBER,
                "max_connections": NULLABLE_NUMBER,
                "counts_by_state": {"type": "object", "additionalProperties": INTEGER},
                "sessions": _array(_ref("Session")),
                "blocking": {
                    **_array(_ref("BlockingSession")),
                    "description": "The snapshot's blocking trees, whatever the filters: each root blocks"
                    " others and waits on no one (a member of a deadlock heads one, waiting); a blocker"
                    " not among the database's client sessions has its pid alone.",
                },
            }
        ),
    ),
    "/api/database/history": _get(
        "Sessions per snapshot over the range, by state or by application.",
        [
            *RANGE_PARAMETERS,
            _query("by", "Grouping (default state).", _one_of(*HISTORY_COLUMNS)),
        ],
        _object({"range": _ref("Range"), "by": STRING, "series": _array(_ref("NamedSeries"))}),
    ),
    "/api/jobs": _get(
        "The declared jobs with their last and next run around the range's end.",
        RANGE_PARAMETERS,
        _object({"at": NUMBER, "jobs": _array(_ref("Job"))}),
    ),
    "/api/jobs/runs": _get(
        "Job runs scheduled in the range (default last 3 h), newest first.",
        RUN_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "total": INTEGER,
                "limit": {
                    **INTEGER,
                    "description": f"the most runs returned, always {RUN_LIMIT}: when `total` is larger, "
                    "narrow the range or filter by `job` or `outcome`",
                },
                "runs": _array(_ref("JobRun")),
            }
        ),
    ),
    "/api/jobs/per_minute": _get(
        "Starts per minute by job, and the most runs in progress at once in each minute.",
        RANGE_PARAMETERS,
        _object(
            {
                "range": _ref("Range"),
                "starts": _array(_object({"job": STRING, "points": _array(COUNT_POINT)})),
                "running": _array(COUNT_POINT),
            }
        ),
    ),
    "/api/code": _get("Every file of the service's code.", [], _object({"files": _array(STRING)})),
    "/api/code/file": _get(
        "One file's lines (line 1 first).",
        [
            _query(
                "path",
                "A path from /api/code.",
                {"type": "string", "minLength": 1, "maxLength": MAX_PATH_LENGTH},
                required=True,
            )
        ],
        _object({"path": STRING, "lines": _array(STRING)}),
        ("404", NOT_FOUND),
    ),
    "/api/code/releases": _get(
        "The service's releases the recording saw serve (newest first, from `service_build_info`),"
        " and for a deploy inside it the compare view of its two tags: each changed file's unified"
        " diff from the release before to the one deployed.",
        [],
        _object(
            {
                "releases": _array(
                    _object(
                        {
                            "version": STRING,
                            "first_seen": {**NUMBER, "description": "first scrape reporting it, epoch s"},
                            "last_seen": {**NUMBER, "description": "last scrape reporting it, epoch s"},
                            "serving_at_start": {
                                "type": "boolean",
                                "description": "already serving when the recording began",
                            },
                        }
                    )
                ),
                "comparisons": _array(
                    _object(
                        {
                            "base": STRING,
                            "head": STRING,
                            "files": _array(
                                _object(
                                    {
                                        "path": STRING,
                                        "status": {
                                            "type": "string",
                                            "enum": ["added", "removed", "modified"],
                                        },
                                        "additions": INTEGER,
                                        "deletions": INTEGER,
                                        "diff": _array(STRING),
                                    }
                                )
                            ),
                        }
                    )
                ),
            }
        ),
    ),
    "/api/code-search": _get(
        "Lines of the code containing the text (any case).",
        CODE_SEARCH_PARAMETERS,
        _object(
            {
                "matches": _array(_object({"path": STRING, "line": INTEGER, "text": STRING})),
                "truncated": {"type": "boolean", "description": "more lines matched than `limit`"},
                "limit": {**INTEGER, "description": f"the most matches returned, always {SEARCH_LIMIT}"},
            }
        ),
    ),
}


# The Alerts view (views/alerts.py): the service's alerting rules evaluated over the recording.
SCHEMAS |= {
    "AlertInstance": _object(
        {
            "labels": _ref("Labels"),
            "state": {
                "type": "string",
                "enum": ["firing", "pending", "inactive"],
                "description": "at the range's end",
            },
            "active_at": {
                **NUMBER,
                "description": "the evaluation that first returned it: pending from then",
            },
            "fired_at": {**NULLABLE_NUMBER, "description": "firing from then; null if it never fired"},
            "ended_at": {
                **NULLABLE_NUMBER,
                "description": "the evaluation that no longer returned it (resolved, if it fired); "
                "null while still active at the end of the recording",
            },
            "value": {
                **NULLABLE_NUMBER,
                "description": "the expression's value when it fired (or became pending)",
            },
            "annotations": {"type": "object", "additionalProperties": STRING},
            "explore": {
                **STRING,
                "description": "the metrics explorer's URL of the expression over its interval",
            },
        }
    ),
    "AlertRule": _object(
        {
            "group": STRING,
            "name": STRING,
            "expr": STRING,
            "interval": {**NUMBER, "description": "the group's evaluation interval, seconds"},
            "for": {**NUMBER, "description": "seconds pending before firing"},
            "keep_firing_for": NUMBER,
            "labels": _ref("Labels"),
            "annotations": {"type": "object", "additionalProperties": STRING, "description": "as written"},
            "source": {**STRING, "description": "the rule file in the service's repository"},
            "code_url": {**NULLABLE_STRING, "description": "the code browser's URL of the rule"},
            "state": {
                "type": "string",
                "enum": ["firing", "pending", "inactive"],
                "description": "at the range's end",
            },
            "instances": _array(_ref("AlertInstance")),
        }
    ),
}
PATHS["/api/alerts"] = _get(
    "The service's alerting rules with their state at the range's end, the alerts pending or firing "
    "within the range (default last 3 h), and every state change in it, oldest first.",
    RANGE_PARAMETERS,
    _object(
        {
            "range": _ref("Range"),
            "rules": _array(_ref("AlertRule")),
            "events": _array(
                _object(
                    {
                        "ts": NUMBER,
                        "alertname": STRING,
                        "severity": STRING,
                        "labels": _ref("Labels"),
                        "state": {"type": "string", "enum": ["pending", "firing", "resolved", "inactive"]},
                    }
                )
            ),
        }
    ),
)


# Prometheus's HTTP API (views/prometheus_api.py): its parameters, given in the query string or a
# form body, and its envelope, so that promtool, Grafana or a script reads the recording as a Prometheus.
PROMETHEUS_TIME: Schema = _or_empty(
    {
        "type": "string",
        "maxLength": 64,
        "pattern": r"^([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
        r"|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$",
    }
)
PROMETHEUS_DURATION: Schema = {
    "type": "string",
    "maxLength": 64,
    "pattern": r"^(([0-9]+(\.[0-9]+)?)|([0-9]+(ms|[smhdwy]))+)$",
}
TIME_FORMS = "float epoch seconds (`1773151200.5`) or RFC 3339 (`2026-03-10T14:00:00Z`)"
PROMETHEUS_LIMIT = _query(
    "limit",
    "At most this many results (0, the default: all); a cut answer says so in `warnings`.",
    _or_empty({"type": "integer", "minimum": 0, "maximum": 1_000_000}),
)
PROMETHEUS_TIMEOUT = _query(
    "timeout",
    "Stop evaluating after this long (`5s`, or seconds); never longer than the platform's own budget.",
    _or_empty(PROMETHEUS_DURATION),
)
SERIES_MATCH = {
    "name": "match[]",
    "in": "query",
    "required": False,
    "description": 'A series selector such as `up{job="x"}`; give it again for more.',
    "schema": {"type": "array", "maxItems": 100, "items": {**QUERY_TEXT, "minLength": 1}},
    "style": "form",
    "explode": True,
}
SPAN_PARAMETERS = [
    _query("start", f"Only series with a sample from this time on: {TIME_FORMS}.", PROMETHEUS_TIME),
    _query("end", "Only series with a sample up to this time.", PROMETHEUS_TIME),
]
PROMETHEUS_VALUE: Schema = {
    "type": "array",
    "prefixItems": [NUMBER, STRING],
    "minItems": 2,
    "maxItems": 2,
    "description": "[epoch seconds (at most 3 decimals), the value as a string: `0.5`, `NaN`, `+Inf`, `-Inf`]",
}


def _prometheus_envelope(data: Schema) -> Schema:
    return _object(
        {"status": {"const": "success"}, "data": data, "warnings": _array(STRING)}, optional=("warnings",)
    )


PROMETHEUS_ERROR = _json(
    _object(
        {
            "status": {"const": "error"},
            "errorType": {**STRING, "description": "`bad_data`, `execution`, `timeout`, ..."},
            "error": STRING,
        }
    ),
    "Prometheus's error envelope: `bad_data` (400) for input that cannot be read, `execution` (422) "
    "for a query that cannot be evaluated, `timeout` (503) past the time budget.",
)


def _form_field(schema: Schema) -> Schema:
    """A parameter's schema as a form field: a list given once is one string in a form body."""
    return {"anyOf": [schema["items"], schema]} if schema.get("type") == "array" else schema


def _prometheus(summary: str, parameters: list[Schema], data: Schema, methods: tuple[str, ...]) -> Schema:
    """An operation of Prometheus's API, by GET and (for those Prometheus takes so) by a POST whose
    form body carries the same parameters."""
    responses = {
        "200": _json(_prometheus_envelope(data)),
        "400": PROMETHEUS_ERROR,
        "422": PROMETHEUS_ERROR,
        "503": PROMETHEUS_ERROR,
    }
    operations: dict[str, Schema] = {
        "get": {"summary": summary, "parameters": parameters, "responses": responses}
    }
    if "POST" in methods:
        form = {
            "type": "object",
            "properties": {p["name"]: _form_field(p["schema"]) for p in parameters if p["in"] == "query"},
            "required": [p["name"] for p in parameters if p["in"] == "query" and p["required"]],
        }
        operations["post"] = {
            "summary": summary + " The parameters in a form body.",
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": form}}},
            "responses": responses,
        }
    return operations


PROMETHEUS_QUERY = _query("query", "PromQL.", {**QUERY_TEXT, "minLength": 1}, required=True)
LABELS_DATA = _array(STRING)
LABEL_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A label name.",
    "schema": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
}
PATHS |= {
    "/api/v1/query": _prometheus(
        "Prometheus's instant query: PromQL at `time`.",
        [
            PROMETHEUS_QUERY,
            _query("time", f"When: {TIME_FORMS}; default the end of the recording.", PROMETHEUS_TIME),
            PROMETHEUS_TIMEOUT,
            PROMETHEUS_LIMIT,
        ],
        _object(
            {
                "resultType": {"type": "string", "enum": ["vector", "scalar"]},
                "result": {
                    "anyOf": [
                        PROMETHEUS_VALUE,
                        _array(_object({"metric": _ref("Labels"), "value": PROMETHEUS_VALUE})),
                    ]
                },
            }
        ),
        ("GET", "POST"),
    ),
    "/api/v1/query_range": _prometheus(
        "Prometheus's range query: PromQL at `start`, `start + step`, ... up to `end`.",
        [
            PROMETHEUS_QUERY,
            _query("start", f"First evaluation: {TIME_FORMS}.", PROMETHEUS_TIME, required=True),
            _query("end", "Last evaluation at most, in the same forms.", PROMETHEUS_TIME, required=True),
            _query(
                "step",
                "Between evaluations: `15s`, `1m`, or seconds (`15`, `0.5`).",
                PROMETHEUS_DURATION,
                True,
            ),
            PROMETHEUS_TIMEOUT,
            PROMETHEUS_LIMIT,
        ],
        _object(
            {
                "resultType": {"const": "matrix"},
                "result": _array(_object({"metric": _ref("Labels"), "values": _array(PROMETHEUS_VALUE)})),
            }
        ),
        ("GET", "POST"),
    ),
    "/api/v1/series": _prometheus(
        "The series `match[]` selects (given at least once) with a sample in the span.",
        [{**SERIES_MATCH, "required": True}, *SPAN_PARAMETERS, PROMETHEUS_LIMIT],
        _array(_ref("Labels")),
        ("GET", "POST"),
    ),
    "/api/v1/labels": _prometheus(
        "The label names of the series `match[]` selects (of every series without it).",
        [SERIES_MATCH, *SPAN_PARAMETERS, PROMETHEUS_LIMIT],
        LABELS_DATA,
        ("GET", "POST"),
    ),
    "/api/v1/label/{name}/values": _prometheus(
        "The values a label takes over the series `match[]` selects (every series without it);"
        " `__name__`: the metric names.",
        [LABEL_NAME_PARAMETER, SERIES_MATCH, *SPAN_PARAMETERS, PROMETHEUS_LIMIT],
        LABELS_DATA,
        ("GET",),
    ),
    "/api/v1/metadata": _prometheus(
        "Each metric family's type, help and unit.",
        [_query("metric", "Only this metric family."), PROMETHEUS_LIMIT],
        {
            "type": "object",
            "additionalProperties": _array(_object({"type": STRING, "help": STRING, "unit": STRING})),
        },
        ("GET",),
    ),
}


# The candidate's own calls on an interview server (observability_ui/candidate_api.py), and why a
# candidate's request is refused (observability_ui/candidate_session.py): listed only where they are served.
TEXT_FIELD: Schema = {"type": "string", "maxLength": MAX_FIELD_CHARS}
MAX_NOTES_CHARS = FIELD_LIMITS[("candidate_api.save_notes", "text")]
LINES_FIELD: Schema = {
    "anyOf": [TEXT_FIELD, _array(TEXT_FIELD)],
    "description": "one item a line, as the form's text box, or a list of them",
}
INTERVIEW_SCHEMAS: dict[str, Schema] = {
    "Refusal": _object(
        {
            "error": {**STRING, "description": "why, for the candidate to read"},
            "reason": {
                "type": "string",
                "enum": [reason.value for reason in Refusal],
                "description": "why, for a script: `no_link` (this client has no interview link: open "
                "it and press its button), `link_revoked` (the link no longer works: ask for a new one), "
                "`not_served` (503: this server cannot serve the interview's data now), `preparing` "
                "(503: the interview's environment is being set up: try again after `Retry-After` "
                "seconds), `not_started`, "
                "`paused`, `over` (the interviewer's clock: wait, or ask for more time)",
            },
            "clock": {
                "type": "string",
                "enum": [clock.value for clock in Clock],
                "description": "where the interview's clock stands, when the clock refused",
            },
        },
        optional=("clock",),
    ),
    "FieldErrors": _object(
        {
            "error": STRING,
            "fields": {
                "type": "object",
                "additionalProperties": STRING,
                "description": "each field at fault (as the submission form names it) and what is wrong "
                "with it; absent when the body as a whole cannot be read",
            },
        },
        optional=("fields",),
    ),
    "SubmissionFields": {
        "type": "object",
        "additionalProperties": False,
        "description": "The submission form's fields, validated, scored and stored as the form's "
        "(every field optional; what is given must be well formed).",
        "properties": {
            "root_cause": TEXT_FIELD,
            "locations": {
                **LINES_FIELD,
                "description": "code locations, `file:first-last` each (a "
                "path as /api/code lists it; lines optional)",
            },
            "mechanism": TEXT_FIELD,
            "starts_at": {**TEXT_FIELD, "description": "UTC with its offset, e.g. 2026-03-10T14:20:00Z"},
            "repeats": {
                **TEXT_FIELD,
                "description": "`none`, `minutes` (every few minutes, on a schedule), `hourly` or `daily`",
            },
            "causal_chain": {**LINES_FIELD, "description": "the steps, one a line or one per item"},
            "mitigation": TEXT_FIELD,
            "fix": TEXT_FIELD,
            "prevention": TEXT_FIELD,
            "confidence": {
                "anyOf": [TEXT_FIELD, NUMBER],
                "description": "from 0 to 1",
            },
            "evidence_views": {
                **_array(TEXT_FIELD),
                "description": "views that show it (as /api/evidence lists)",
            },
            "evidence_events": {
                **_array({"anyOf": [TEXT_FIELD, INTEGER]}),
                "description": "ids of your own recorded pages and calls that show it (from /api/evidence)",
            },
        },
    },
    "StoredSubmission": _object(
        {
            "id": INTEGER,
            "submitted_at": STRING,
            "status": {
                "type": "string",
                "enum": ["on time", "late"],
                "description": "late: in the grace after the time limit",
            },
        }
    ),
}
REFUSED = {
    "403": _json(_ref("Refusal"), "Refused for this candidate now; `reason` says why."),
    "503": _json(
        {"anyOf": [_ref("Refusal"), _ref("Error")]},
        "The interview's data is not served now (`reason` `not_served`), its environment is being "
        "set up (`reason` `preparing`, with `Retry-After`), or the request's queries ran longer than "
        "the time budget and were cancelled.",
    ),
}
FIELD_ERRORS = _json(_ref("FieldErrors"), "The body cannot be used; `fields` names each field at fault.")
TOO_LARGE = _json(_ref("Error"), "A field, or the body, is over its size limit; `error` names it.")


def _candidate(method: str, summary: str, responses: dict[str, Schema], body: Schema | None = None) -> Schema:
    operation: Schema = {"summary": summary, "parameters": [], "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {method: operation}


CANDIDATE_PATHS: dict[str, Schema] = {
    "/api/interview": _candidate(
        "get",
        "Your interview: the clock, the time left and the hints your interviewer released.",
        {
            "200": _json(
                _object(
                    {
                        "candidate": STRING,
                        "clock": {"type": "string", "enum": [clock.value for clock in Clock]},
                        "limit_s": {**NUMBER, "description": "the time limit with any extension"},
                        "remaining_s": NUMBER,
                        "grace_left_s": {
                            **NULLABLE_NUMBER,
                            "description": "past the limit: how long a (late) submission is still taken",
                        },
                        "hints": _array(STRING),
                    }
                )
            ),
            "400": BAD_INPUT,
        },
    ),
    "/api/evidence": _candidate(
        "get",
        "What a submission can cite: your recorded pages and calls, newest first, and the views.",
        {
            "200": _json(
                _object(
                    {
                        "events": _array(_object({"id": INTEGER, "description": STRING, "link": STRING})),
                        "views": _array(STRING),
                    }
                )
            ),
            "400": BAD_INPUT,
        },
    ),
    "/api/notes": {
        **_candidate(
            "get",
            "Your scratch notes as last saved.",
            {"200": _json(_object({"text": STRING})), "400": BAD_INPUT},
        ),
        **_candidate(
            "put",
            "Save your scratch notes (your interviewer sees each saved version).",
            {"204": {"description": "Saved."}, "400": FIELD_ERRORS, "413": TOO_LARGE},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"text": {"type": "string", "maxLength": MAX_NOTES_CHARS}},
            },
        ),
    },
    "/api/submissions": {
        **_candidate(
            "get",
            "Every version of your findings you submitted, oldest first, as stored.",
            {
                "200": _json(
                    _object(
                        {
                            "submissions": _array(
                                {**_ref("StoredSubmission"), "properties": {"submission": {"type": "object"}}}
                            )
                        }
                    )
                ),
                "400": BAD_INPUT,
            },
        ),
        **_candidate(
            "post",
            "Submit your findings: the submission form's fields as JSON (submit again to revise).",
            {"201": _json(_ref("StoredSubmission"), "Stored."), "400": FIELD_ERRORS, "413": TOO_LARGE},
            _ref("SubmissionFields"),
        ),
    },
}


def _refusals(path: str) -> dict[str, Schema]:
    """How ``path`` refuses a candidate who may not work now: Prometheus's API in its own envelope."""
    return {"403": PROMETHEUS_ERROR, "503": PROMETHEUS_ERROR} if path.startswith("/api/v1/") else REFUSED


def document(interview: bool = False) -> dict[str, Any]:
    """The whole OpenAPI document; on an ``interview`` server also the candidate's own calls, and
    every call's refusal when the candidate may not work now."""
    paths, schemas = PATHS, SCHEMAS
    if interview:
        paths = {
            path: {
                method: {**operation, "responses": {**operation["responses"], **_refusals(path)}}
                for method, operation in item.items()
            }
            for path, item in (PATHS | CANDIDATE_PATHS).items()
        }
        schemas = SCHEMAS | INTERVIEW_SCHEMAS
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Observability platform API",
            "version": "1",
            "description": "JSON behind every view, read-only"
            + ("; in an interview, also your notes and findings" if interview else "")
            + ". Times are epoch seconds, UTC. "
            "Bad input gets a 4xx with an `error` message, never a stack trace; so does a query "
            "parameter an operation does not list here, or one given twice. Every parameter is "
            "read by its schema below (ASCII digits, finite numbers within the bounds stated); an "
            "empty value means the default.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def path_of(rule: str) -> str:
    """The document's path for a Flask rule: ``/api/traces/<trace_id>`` is ``/api/traces/{trace_id}``."""
    return _RULE_VARIABLE.sub(r"{\1}", rule)


def query_parameters(path: str) -> list[str]:
    """The query parameters the document lists for ``path``'s GET, in its order (none if unlisted)."""
    return [parameter["name"] for parameter in _operation_query(path)]


def _operation_query(path: str) -> list[Schema]:
    parameters = PATHS.get(path, {}).get("get", {}).get("parameters", [])
    return [parameter for parameter in parameters if parameter["in"] == "query"]


# Each page's query parameters: its ``/api/`` twin's (the page is drawn by the same functions), and
# what only a page has (the explorer's mode and metric picker, deploy markers, a code line).
PAGES: dict[str, list[Schema]] = {
    "overview.page": [
        *RANGE_PARAMETERS,
        _query("deploys", "`hide`: no deploy markers on the charts.", _one_of("hide")),
    ],
    "metrics.page": [
        _query("query", "PromQL.", QUERY_TEXT),
        *RANGE_PARAMETERS,
        AT_PARAMETER,
        _query("mode", "`graph` over the range (default) or `table` at `at`.", _one_of("graph", "table")),
        _query("metric", "The metric whose labels the picker lists" + NAMED + "."),
    ],
    "logs.page": LOG_SEARCH_PARAMETERS,
    "traces.search": TRACE_SEARCH_PARAMETERS,
    "traces.trace": RANGE_PARAMETERS,
    "database.page": SESSION_PARAMETERS,
    "jobs.page": RUN_PARAMETERS,
    "alerts.page": RANGE_PARAMETERS,
    "code.browse": [
        _query(
            "line",
            "A line or lines to highlight: `12` or `12-20`.",
            {"type": "string", "maxLength": 16, "pattern": "^([0-9]{1,6}(-[0-9]{1,6})?)?$"},
        )
    ],
    "code.search": CODE_SEARCH_PARAMETERS,
    "code.release_history": [],
}


def parameters_for(endpoint: str, rule: str) -> list[Schema] | None:
    """The query parameters of the view ``endpoint`` served at the Flask ``rule``: an ``/api/``
    operation's from the document, a page's from :data:`PAGES`; None for what is neither (static
    files, the interview's own pages, which read no query)."""
    path = path_of(rule)
    if path in PATHS:
        return _operation_query(path)
    return PAGES.get(endpoint)


def undocumented_query(
    path: str, accepted: list[str], given: Mapping[str, list[str]], repeatable: Collection[str] = ()
) -> str | None:
    """Why a request's query cannot be answered as documented, or None when it can.

    ``accepted`` names the parameters ``path`` takes and ``given`` maps each query parameter to its
    values (``request.args.to_dict(flat=False)``).  A parameter not accepted would be ignored, and
    one given twice would be half ignored: either way the answer would be for something other than
    what was asked.  Only the ``repeatable`` ones (lists, such as ``match[]``) may come again.
    """
    unknown = [name for name in given if name not in accepted]
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        listed = f"accepts {', '.join(accepted)}" if accepted else "takes no query parameters"
        return (
            f"unknown query parameter{plural} {', '.join(shown(name) for name in unknown)}: "
            f"{path} {listed} (see /api/openapi.json)"
        )
    repeated = [name for name, values in given.items() if len(values) > 1 and name not in repeatable]
    if repeated:
        plural = "s" if len(repeated) > 1 else ""
        names = ", ".join(shown(name) for name in repeated)
        return f"query parameter{plural} {names} given more than once: give each once"
    return None
