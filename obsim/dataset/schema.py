"""The dataset format: the one contract between the simulator (writer) and the UI and exporters (readers).

A dataset is a directory holding ``manifest.json`` (what was generated, from what) and
``telemetry.sqlite`` (everything the candidate can look at).  ``docs/dataset.md`` documents every table
and column; bump :data:`FORMAT_VERSION` on any incompatible change and say what changed there.

All timestamps are Unix epoch seconds (UTC) as REAL, at microsecond precision or coarser.  Trace ids
are 32 lowercase hex characters and span ids 16, as in W3C trace context and OTLP/JSON.
"""

from __future__ import annotations

FORMAT_VERSION = 1

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

CREATE TABLE spans (
    trace_id       TEXT NOT NULL,
    span_id        TEXT NOT NULL,
    parent_span_id TEXT,            -- NULL for a trace's root span
    service        TEXT NOT NULL,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,   -- server | client | internal | producer | consumer
    start          REAL NOT NULL,
    duration       REAL NOT NULL,   -- seconds
    status         TEXT NOT NULL,   -- unset | ok | error
    status_message TEXT,
    attributes     TEXT NOT NULL,   -- JSON object
    events         TEXT NOT NULL    -- JSON array of {"name", "time", "attributes"}
);

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

CREATE TABLE db_sessions (
    ts               REAL NOT NULL, -- snapshot time
    pid              INTEGER NOT NULL,
    datname          TEXT NOT NULL,
    usename          TEXT NOT NULL,
    application_name TEXT NOT NULL,
    client_addr      TEXT NOT NULL,
    backend_start    REAL NOT NULL,
    xact_start       REAL,
    query_start      REAL,
    state_change     REAL NOT NULL,
    state            TEXT NOT NULL, -- active | idle | idle in transaction | idle in transaction (aborted)
    wait_event_type  TEXT,
    wait_event       TEXT,
    query            TEXT NOT NULL,
    PRIMARY KEY (ts, pid)
) WITHOUT ROWID;

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
CREATE INDEX spans_trace ON spans(trace_id);
CREATE INDEX spans_start ON spans(start);
CREATE INDEX logs_ts ON logs(ts);
CREATE INDEX logs_trace ON logs(trace_id);
CREATE INDEX job_runs_job ON job_runs(job_id, scheduled_at);
"""
