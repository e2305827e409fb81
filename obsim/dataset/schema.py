"""The dataset format: the one contract between the simulator (writer) and the UI and exporters (readers).

A dataset is a directory holding ``manifest.json`` (what was generated, from what) and
``telemetry.sqlite`` (everything the candidate can look at).  ``docs/dataset.md`` documents every table
and column; bump :data:`FORMAT_VERSION` on any incompatible change and say what changed there.

All timestamps are Unix epoch seconds (UTC) as REAL, at microsecond precision or coarser (a span's
duration to the nanosecond).  Trace ids
are 32 lowercase hex characters and span ids 16, as in W3C trace context and OTLP/JSON.
"""

from __future__ import annotations

FORMAT_VERSION = 3

MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "telemetry.sqlite"

DDL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE metric_families (
    name TEXT PRIMARY KEY,          -- family name as prometheus_client reports it (counters without _total)
    type TEXT NOT NULL,             -- counter | gauge | histogram | summary | info | stateset | unknown
    help TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT ''
);

CREATE TABLE metric_series (
    id          INTEGER PRIMARY KEY,
    family      TEXT NOT NULL REFERENCES metric_families(name),
    sample_name TEXT NOT NULL,      -- e.g. http_server_request_duration_seconds_bucket
    labels      TEXT NOT NULL,      -- JSON object with sorted keys, e.g. {"le":"0.1","http_route":"/users"}
    UNIQUE (sample_name, labels)
);

CREATE TABLE metric_samples (
    series_id INTEGER NOT NULL REFERENCES metric_series(id),
    ts        REAL NOT NULL,        -- scrape time
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;

-- Spans are stored normalised: each trace id once in traces; what many spans share (service, name,
-- kind and the attributes that repeat: statement text, code location, route, names and addresses)
-- once per distinct combination in span_templates; each span's own values in span_records.  The
-- spans view joins them back, so readers see the columns described in docs/dataset.md.
CREATE TABLE traces (
    id       INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL
);

CREATE TABLE span_templates (
    id         INTEGER PRIMARY KEY,
    service    TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    attributes TEXT NOT NULL        -- JSON object; where spans have their own value, a placeholder (0)
);

-- A span's single event (an exception, almost always) repeats too: its stack trace is the same for
-- every failure on the same code path.  Such an event is stored once, its time as placeholder (0).
CREATE TABLE span_event_templates (
    id     INTEGER PRIMARY KEY,
    events TEXT NOT NULL            -- JSON array of one event whose "time" is 0
);

CREATE TABLE span_records (
    trace          INTEGER NOT NULL REFERENCES traces(id),
    span_id        TEXT NOT NULL,
    parent_span_id TEXT,
    template       INTEGER NOT NULL REFERENCES span_templates(id),
    start          REAL NOT NULL,
    duration       REAL NOT NULL,
    status         TEXT NOT NULL,
    status_message TEXT,
    own_attributes TEXT NOT NULL,   -- JSON object of the values that replace the template's placeholders
    events         TEXT,            -- JSON array, or NULL when the span's one event is in event_template
    event_template INTEGER REFERENCES span_event_templates(id),
    event_time     TEXT             -- with event_template: the event's time, as JSON number text
);

CREATE VIEW spans AS
SELECT
    t.trace_id,
    r.span_id,
    r.parent_span_id,               -- NULL for a trace's root span
    p.service,
    p.name,
    p.kind,                         -- server | client | internal | producer | consumer
    r.start,
    r.duration,                     -- seconds
    r.status,                       -- unset | ok | error
    r.status_message,
    CASE r.own_attributes WHEN '{}' THEN p.attributes
        ELSE json_patch(p.attributes, r.own_attributes) END AS attributes,  -- JSON object
    CASE WHEN r.event_template IS NULL THEN r.events
        ELSE json_set(e.events, '$[0].time', json(r.event_time)) END AS events  -- JSON array of {"name", "time", "attributes"}
FROM span_records r
JOIN traces t ON t.id = r.trace
JOIN span_templates p ON p.id = r.template
LEFT JOIN span_event_templates e ON e.id = r.event_template;

CREATE TABLE logs (
    id         INTEGER PRIMARY KEY,
    ts         REAL NOT NULL,
    service    TEXT NOT NULL,
    host       TEXT NOT NULL,
    level      TEXT NOT NULL,       -- debug | info | warning | error | critical
    logger     TEXT NOT NULL,
    message    TEXT NOT NULL,
    trace_id   TEXT,
    span_id    TEXT,
    attributes TEXT NOT NULL        -- JSON object: the rest of the structured record
);

-- A snapshot repeats most of a session's row (who, from where, its state and last query) from the
-- previous one: those columns are stored once per distinct combination in db_session_states, and the
-- db_sessions view joins them back.
CREATE TABLE db_session_states (
    id               INTEGER PRIMARY KEY,
    datname          TEXT NOT NULL,
    usename          TEXT NOT NULL,
    application_name TEXT NOT NULL,
    client_addr      TEXT NOT NULL,
    state            TEXT NOT NULL,
    wait_event_type  TEXT,
    wait_event       TEXT,
    query            TEXT NOT NULL
);

CREATE TABLE db_session_snapshots (
    ts            REAL NOT NULL,
    pid           INTEGER NOT NULL,
    backend_start REAL NOT NULL,
    xact_start    REAL,
    query_start   REAL,
    state_change  REAL NOT NULL,
    session_state INTEGER NOT NULL REFERENCES db_session_states(id),
    blocked_by    TEXT,             -- pg_blocking_pids(pid) as PostgreSQL prints it ('{123,456}'); NULL when none
    PRIMARY KEY (ts, pid)
) WITHOUT ROWID;

CREATE VIEW db_sessions AS
SELECT
    s.ts,                           -- snapshot time
    s.pid,
    d.datname,
    d.usename,
    d.application_name,
    d.client_addr,
    s.backend_start,
    s.xact_start,
    s.query_start,
    s.state_change,
    d.state,                        -- active | idle | idle in transaction | idle in transaction (aborted)
    d.wait_event_type,
    d.wait_event,
    d.query,
    s.blocked_by                    -- pg_blocking_pids(pid) as PostgreSQL prints it ('{123,456}'); NULL when none
FROM db_session_snapshots s
JOIN db_session_states d ON d.id = s.session_state;

CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    func               TEXT NOT NULL,  -- module:function
    trigger            TEXT NOT NULL,  -- APScheduler's own description, e.g. cron[minute='0']
    jitter             REAL,
    max_instances      INTEGER NOT NULL,
    coalesce           INTEGER NOT NULL,
    misfire_grace_time REAL,
    executor           TEXT NOT NULL,
    executor_workers   INTEGER NOT NULL
);

CREATE TABLE job_runs (
    run_id       TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES jobs(id),
    scheduled_at REAL NOT NULL,
    started_at   REAL,               -- NULL when the run never started (skipped or missed)
    finished_at  REAL,
    outcome      TEXT NOT NULL,      -- success | error | skipped | missed
    trace_id     TEXT,
    error        TEXT
);
"""

INDEXES = """
CREATE UNIQUE INDEX traces_trace_id ON traces(trace_id);
CREATE INDEX spans_trace ON span_records(trace);
CREATE INDEX spans_start ON span_records(start);
-- Trace search starts from root spans in a time range and filters on whole-trace duration.
CREATE INDEX spans_roots ON span_records(start, duration) WHERE parent_span_id IS NULL;
CREATE INDEX logs_ts ON logs(ts);
CREATE INDEX logs_trace ON logs(trace_id);
CREATE INDEX job_runs_job ON job_runs(job_id, scheduled_at);
"""
