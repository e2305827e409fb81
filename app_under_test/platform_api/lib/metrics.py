"""Prometheus metrics of the service, named after OpenTelemetry's semantic conventions.

All metrics live in one registry, :data:`REGISTRY`, exposed on ``/metrics``.  Durations are
measured with :mod:`platform_api.lib.clock`, never with ``Histogram.time()``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics
from prometheus_client.registry import Collector

disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
)

BUILD = Info(
    "service_build",
    "The build of the service this process runs.",
    registry=REGISTRY,
)
HTTP_SERVER_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["http_route", "http_request_method", "http_response_status_code"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_SERVER_ACTIVE = Gauge(
    "http_server_active_requests",
    "Number of active HTTP server requests.",
    registry=REGISTRY,
)
POOL_WAIT_TIME = Histogram(
    "db_client_connection_wait_time_seconds",
    "The time it took to obtain an open connection from the pool.",
    ["db_client_connection_pool_name"],
    buckets=(0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
POOL_TIMEOUTS = Counter(
    "db_client_connection_timeouts",
    "The number of connection timeouts that have occurred trying to obtain a connection from the pool.",
    ["db_client_connection_pool_name"],
    registry=REGISTRY,
)
EXTERNAL_REQUEST_DURATION = Histogram(
    "http_client_request_duration_seconds",
    "Duration of HTTP client requests to external services.",
    ["peer_service", "http_request_method", "http_response_status_code", "error_type"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "scheduler_job_runs",
    "Background job executions by outcome.",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "scheduler_job_duration_seconds",
    "Duration of background job executions.",
    ["job"],
    buckets=(0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge(
    "scheduler_jobs_running",
    "Background job executions in progress.",
    ["job"],
    registry=REGISTRY,
)
TRANSACTION_DURATION = Histogram(
    "db_transaction_duration_seconds",
    "Duration of database transactions opened through the transaction helpers.",
    ["transaction"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
DB_CLIENT_OPERATION_DURATION = Histogram(
    "db_client_operation_duration_seconds",
    "Duration of database client operations, as the client sees them (queueing and network included).",
    ["db_system_name", "db_operation_name"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "cache_requests",
    "Cache lookups by result.",
    ["cache", "result"],
    registry=REGISTRY,
)

EMAIL_OUTBOX_PENDING = Gauge(
    "email_outbox_pending_messages",
    "Outbound emails waiting to be sent, as of the outbox job's last pass.",
    registry=REGISTRY,
)
EMAIL_OUTBOX_OLDEST_AGE = Gauge(
    "email_outbox_oldest_pending_age_seconds",
    "How long the oldest outbound email waiting to be sent has waited, as of the outbox job's last pass.",
    registry=REGISTRY,
)
EMAIL_OUTBOX_DELIVERIES = Counter(
    "email_outbox_deliveries",
    "Outbound email send attempts by result.",
    ["result"],
    registry=REGISTRY,
)

_collectors: dict[type, Collector] = {}


def register_collector(collector: Collector) -> None:
    """Register a custom collector, replacing an earlier one of the same class."""
    previous = _collectors.pop(type(collector), None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _collectors[type(collector)] = collector
