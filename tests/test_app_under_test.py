"""The production service (app_under_test) against a real SQLite database.

Each test gets a fresh migrated and seeded database file, a fixed clock, fake external services
(an ``httpx.MockTransport``) and a new Flask app; spans and logs are captured where a test asks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_trace_id
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import IntegrityError

from platform_api.api.app import create_app
from platform_api.lib import http_client, metrics, plumbing, tracing
from platform_api.lib.cache import TTLCache
from platform_api.lib.config import Settings, load_settings
from platform_api.lib.database import transactions
from platform_api.lib.database.client import db
from platform_api.lib.database.migrations import migrate
from platform_api.lib.logging import JsonFormatter
from platform_api.models import (
    AuditEvent,
    Notification,
    OutboundEmail,
    Tenant,
    TenantStats,
    UsageReport,
    User,
    WorkflowRun,
)
from platform_api.seed import SeedSummary, TenantSeed, seed_database
from platform_api.services import workflow_engine
from platform_api.services.job_scheduler import create_scheduler

NOW = datetime(2025, 3, 3, 10, 30, tzinfo=UTC)
HOURLY_JOBS = (
    "sync_tenant_data",
    "generate_usage_reports",
    "cleanup_expired_records",
    "send_activity_digests",
    "recompute_engagement_scores",
)


# --------------------------------------------------------------------------- fixtures


class FakeClock:
    """A clock standing still at ``start`` until a test advances it."""

    def __init__(self, start: datetime) -> None:
        self.wall = start.timestamp()
        self.mono = 1_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class ListExporter(InMemorySpanExporter):
    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]


def parent_span_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


class RecordingHandler(logging.Handler):
    """Keeps each record as the JSON formatter's field dict."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.formatter_ = JsonFormatter("platform-api", "test-host")
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(self.formatter_.fields(record))

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [entry for entry in self.entries if entry["message"] == message]


@dataclass
class FakeServices:
    """Answers of the fake external services, by path; tests replace entries to inject failures."""

    responses: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses[request.url.path](request)

    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock(NOW)
    plumbing.configure(clock=fake)
    yield fake
    plumbing.configure(clock=plumbing.SystemClock())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        database_url=f"sqlite:///{tmp_path / 'platform.db'}",
        db_pool_size=5,
        db_pool_timeout=2.0,
        scheduler_enabled=False,
    )


@pytest.fixture
def database(settings: Settings, fake_clock: FakeClock) -> Iterator[None]:
    db.configure(settings, connect_args={"check_same_thread": False})
    migrate(db.engine)
    yield
    db.dispose()


@pytest.fixture
def seeded(database: None) -> SeedSummary:
    return seed_database(
        db.engine,
        seed=11,
        tenants=2,
        users_per_tenant=4,
        workflows_per_tenant=2,
        records_per_tenant=150,
        now=NOW,
    )


@pytest.fixture
def tenant(seeded: SeedSummary) -> TenantSeed:
    return seeded.tenants[0]


@pytest.fixture
def services() -> Iterator[FakeServices]:
    fake = FakeServices(
        {
            "/v1/validate/workflow": lambda _: httpx.Response(200, json={"valid": True, "errors": []}),
            "/v1/charges": lambda _: httpx.Response(200, json={"id": "ch_1", "status": "succeeded"}),
            "/v1/messages": lambda _: httpx.Response(202, json={"id": "msg_1"}),
        }
    )
    plumbing.configure(http_transport=httpx.MockTransport(fake.handle))
    yield fake
    plumbing.configure(http_transport=None)


@pytest.fixture
def app(seeded: SeedSummary, settings: Settings, services: FakeServices) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(tenant: TenantSeed) -> dict[str, str]:
    return {"X-API-Key": tenant.api_keys[0]}


@pytest.fixture
def spans() -> Iterator[ListExporter]:
    exporter = ListExporter()
    tracing.configure("platform-api", [SimpleSpanProcessor(exporter)], service_version="1.4.2")
    yield exporter
    tracing.configure("platform-api")


@pytest.fixture
def logs() -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous_level)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def count_rows(model: Any, *filters: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*filters)) or 0


# --------------------------------------------------------------------------- health and auth


def test_health_needs_no_database_and_ready_runs_a_query(client: FlaskClient, spans: ListExporter) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert not [span for span in spans.spans if span.kind is SpanKind.CLIENT]

    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}
    assert spans.named("SELECT")


def test_api_requires_a_valid_api_key(client: FlaskClient, auth: dict[str, str]) -> None:
    missing = client.get("/api/v1/workflows")
    assert missing.status_code == 401
    assert missing.get_json() == {"error": "Missing API key"}
    wrong = client.get("/api/v1/workflows", headers={"X-API-Key": "pk_live_nope"})
    assert wrong.status_code == 401
    assert wrong.get_json() == {"error": "Invalid API key"}
    assert client.get("/api/v1/workflows", headers=auth).status_code == 200


def test_api_key_lookups_are_cached(client: FlaskClient, auth: dict[str, str], spans: ListExporter) -> None:
    hits = sample("cache_requests_total", {"cache": "api_keys", "result": "hit"})
    client.get("/api/v1/notifications", headers=auth)
    lookups = len(spans.named("SELECT api_keys"))
    client.get("/api/v1/notifications", headers=auth)

    assert lookups == 1
    assert len(spans.named("SELECT api_keys")) == 1
    assert sample("cache_requests_total", {"cache": "api_keys", "result": "hit"}) == hits + 1


# --------------------------------------------------------------------------- routes


def test_workflow_routes(
    client: FlaskClient, auth: dict[str, str], tenant: TenantSeed, services: FakeServices
) -> None:
    listed = client.get("/api/v1/workflows?page=1&page_size=10", headers=auth).get_json()
    assert listed["total"] == len(tenant.workflow_ids)
    assert {item["id"] for item in listed["items"]} == set(tenant.workflow_ids)
    assert client.get("/api/v1/workflows?status=archived", headers=auth).get_json()["total"] == 0

    definition = {"steps": [{"name": "fetch", "type": "http_request"}, {"name": "map", "type": "transform"}]}
    created = client.post(
        "/api/v1/workflows", json={"name": "Ship orders", "definition": definition}, headers=auth
    )
    assert created.status_code == 201
    workflow = created.get_json()
    assert workflow["name"] == "Ship orders"
    assert workflow["created_at"] == NOW.isoformat()
    assert "/v1/validate/workflow" in services.paths()
    assert count_rows(AuditEvent, AuditEvent.action == "workflow.created") == 1

    detail = client.get(f"/api/v1/workflows/{workflow['id']}", headers=auth).get_json()
    assert detail["last_run"] is None

    started = client.post(f"/api/v1/workflows/{workflow['id']}/runs", headers=auth)
    assert started.status_code == 202
    assert started.get_json()["status"] == "pending"
    assert [step["name"] for step in started.get_json()["steps"]] == ["fetch", "map"]

    runs = client.get(f"/api/v1/workflows/{workflow['id']}/runs", headers=auth).get_json()
    assert runs["total"] == 1
    assert client.get(f"/api/v1/workflows/{workflow['id']}", headers=auth).get_json()["last_run"][
        "status"
    ] == ("pending")


def test_workflow_input_errors(client: FlaskClient, auth: dict[str, str], services: FakeServices) -> None:
    missing_name = client.post("/api/v1/workflows", json={"definition": {"steps": []}}, headers=auth)
    assert missing_name.status_code == 400
    assert missing_name.get_json() == {"error": "Invalid request", "fields": {"name": "is required"}}

    no_steps = client.post("/api/v1/workflows", json={"name": "x", "definition": {"steps": []}}, headers=auth)
    assert no_steps.status_code == 400
    assert "definition.steps" in no_steps.get_json()["fields"]

    assert client.get("/api/v1/workflows?status=nope", headers=auth).status_code == 400
    assert client.get("/api/v1/workflows?page_size=1000", headers=auth).status_code == 400
    assert client.get("/api/v1/workflows/999999", headers=auth).status_code == 404

    services.responses["/v1/validate/workflow"] = lambda _: httpx.Response(
        200, json={"valid": False, "errors": ["unknown connector: ftp"]}
    )
    body = {"name": "Upload", "definition": {"steps": [{"name": "up", "type": "ftp"}]}}
    rejected = client.post("/api/v1/workflows", json=body, headers=auth)
    assert rejected.status_code == 400
    assert rejected.get_json() == {
        "error": "workflow definition is invalid",
        "errors": ["unknown connector: ftp"],
    }


def test_duplicate_workflow_name_conflicts(client: FlaskClient, auth: dict[str, str]) -> None:
    existing = client.get("/api/v1/workflows", headers=auth).get_json()["items"][0]["name"]
    body = {"name": existing, "definition": {"steps": [{"name": "a", "type": "transform"}]}}
    assert client.post("/api/v1/workflows", json=body, headers=auth).status_code == 409


def test_validation_service_failure_is_a_502(
    client: FlaskClient, auth: dict[str, str], services: FakeServices, logs: RecordingHandler
) -> None:
    services.responses["/v1/validate/workflow"] = lambda _: httpx.Response(503)
    body = {"name": "Nightly sync", "definition": {"steps": [{"name": "a", "type": "transform"}]}}

    response = client.post("/api/v1/workflows", json=body, headers=auth)

    assert response.status_code == 502
    assert response.get_json() == {"error": "Upstream service unavailable", "service": "validation-service"}
    [error] = logs.with_message("upstream service error")
    assert error["level"] == "error"
    assert error["error.type"] == "ExternalServiceError"
    # The record is the service's own: the peer is an attribute, not the record's service.
    assert error["service"] == "platform-api" and error["peer.service"] == "validation-service"


def test_user_routes(
    client: FlaskClient, auth: dict[str, str], tenant: TenantSeed, seeded: SeedSummary
) -> None:
    listed = client.get("/api/v1/users?page=1", headers=auth).get_json()
    assert [user["id"] for user in listed["items"]] == list(tenant.user_ids)

    member = tenant.user_ids[-1]
    assert client.get(f"/api/v1/users/{member}", headers=auth).get_json()["id"] == member
    patched = client.patch(
        f"/api/v1/users/{member}", json={"name": "Ada Lovelace", "role": "admin"}, headers=auth
    )
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "Ada Lovelace"
    assert patched.get_json()["role"] == "admin"

    created = client.post(
        "/api/v1/users",
        json={"email": "New.Person@Example.com", "name": "New", "role": "member"},
        headers=auth,
    )
    assert created.status_code == 201
    assert created.get_json()["email"] == "new.person@example.com"
    again = {"email": "new.person@example.com", "name": "Again", "role": "member"}
    assert client.post("/api/v1/users", json=again, headers=auth).status_code == 409

    other_tenant_user = seeded.tenants[1].user_ids[0]
    assert client.get(f"/api/v1/users/{other_tenant_user}", headers=auth).status_code == 404


def test_user_input_errors(client: FlaskClient, auth: dict[str, str], tenant: TenantSeed) -> None:
    bad_email = client.post(
        "/api/v1/users", json={"email": "nope", "name": "N", "role": "member"}, headers=auth
    )
    assert bad_email.status_code == 400
    assert bad_email.get_json()["fields"] == {"email": "must be an email address"}
    undeliverable = {"email": "a" * 243 + "@example.com", "name": "N", "role": "member"}  # 255 long
    too_long = client.post("/api/v1/users", json=undeliverable, headers=auth)
    assert too_long.get_json()["fields"] == {"email": "must be at most 254 characters"}
    bad_role = client.post(
        "/api/v1/users", json={"email": "a@b.co", "name": "N", "role": "god"}, headers=auth
    )
    assert "role" in bad_role.get_json()["fields"]
    assert client.patch(f"/api/v1/users/{tenant.user_ids[0]}", json={}, headers=auth).status_code == 400
    assert client.post("/api/v1/users", data="not json", headers=auth).status_code == 400


def test_invitation_is_queued_and_sent_by_the_outbox_job(
    client: FlaskClient, auth: dict[str, str], services: FakeServices, settings: Settings
) -> None:
    invited = client.post("/api/v1/invitations", json={"email": "Grace@Example.com"}, headers=auth)
    assert invited.status_code == 201
    assert invited.get_json()["email"] == "grace@example.com"
    assert invited.get_json()["role"] == "member"
    assert count_rows(OutboundEmail, OutboundEmail.status == "pending") == 1
    assert "/v1/messages" not in services.paths()
    member = client.get("/api/v1/users", headers=auth).get_json()["items"][0]["email"]
    assert client.post("/api/v1/invitations", json={"email": member}, headers=auth).status_code == 409
    bad = client.post("/api/v1/invitations", json={"email": "grace"}, headers=auth)
    assert bad.get_json()["fields"] == {"email": "must be an email address"}

    [job] = [job for job in create_scheduler(settings).get_jobs() if job.id == "send_outbound_emails"]
    job.func(*job.args, **job.kwargs)

    assert services.paths().count("/v1/messages") == 1
    [message] = [json.loads(r.content) for r in services.requests if r.url.path == "/v1/messages"]
    assert (message["from"], message["to"]) == (settings.email_sender, "grace@example.com")
    assert count_rows(OutboundEmail, OutboundEmail.status == "sent") == 1
    assert sample("email_outbox_pending_messages") == 0


def test_data_routes(client: FlaskClient, auth: dict[str, str]) -> None:
    records = [
        {"kind": "order", "amount_cents": 1250, "payload": {"order": "A-1"}},
        {"kind": "refund", "amount_cents": 300},
    ]
    imported = client.post(
        "/api/v1/data/import", json={"source": "shopify", "records": records}, headers=auth
    )
    assert imported.status_code == 201
    assert imported.get_json() == {"imported": 2}

    since = (NOW - timedelta(seconds=1)).isoformat()
    listed = client.get("/api/v1/data/records", query_string={"since": since, "limit": 10}, headers=auth)
    assert [(r["kind"], r["amount_cents"], r["source"]) for r in listed.get_json()["items"]] == [
        ("order", 1250, "shopify"),
        ("refund", 300, "shopify"),
    ]

    export = client.get("/api/v1/data/export", query_string={"since": since}, headers=auth).get_json()
    assert export["kinds"] == [
        {"kind": "order", "records": 1, "amount_cents": 1250},
        {"kind": "refund", "records": 1, "amount_cents": 300},
    ]
    month = client.get("/api/v1/data/export", query_string={"since": "2025-01-01"}, headers=auth).get_json()
    assert sum(kind["records"] for kind in month["kinds"]) == 152


def test_data_input_errors(client: FlaskClient, auth: dict[str, str]) -> None:
    no_records = client.post("/api/v1/data/import", json={"source": "api", "records": []}, headers=auth)
    assert no_records.status_code == 400
    bad_kind = client.post(
        "/api/v1/data/import", json={"source": "api", "records": [{"kind": "x"}]}, headers=auth
    )
    assert "records[0].kind" in bad_kind.get_json()["fields"]
    assert client.get("/api/v1/data/records?since=yesterday", headers=auth).status_code == 400
    assert client.get("/api/v1/data/records?limit=0", headers=auth).status_code == 400


def test_report_routes(client: FlaskClient, auth: dict[str, str], settings: Settings) -> None:
    summary = client.get("/api/v1/reports/summary?days=30", headers=auth).get_json()
    assert summary["records"] == 150
    assert summary["records"] == sum(kind["records"] for kind in summary["by_kind"])
    assert summary["records"] == sum(day["records"] for day in summary["daily"])
    assert summary["daily"][-1]["day"] <= NOW.date().isoformat()
    assert client.get("/api/v1/reports/summary?days=0", headers=auth).status_code == 400

    assert client.get("/api/v1/reports/usage", headers=auth).get_json() == {"stats": None, "reports": []}
    jobs = {job.id: job for job in create_scheduler(settings).get_jobs()}
    for job_id in ("sync_tenant_data", "generate_usage_reports"):
        jobs[job_id].func()
    usage = client.get("/api/v1/reports/usage", headers=auth).get_json()
    assert usage["stats"]["records_total"] == 150
    assert len(usage["reports"]) == 2
    monthly = usage["reports"][0]
    assert monthly["records"] == 150
    assert sum(kind["records"] for kind in monthly["breakdown"].values()) == monthly["records"]


def test_activity_report_route(client: FlaskClient, auth: dict[str, str]) -> None:
    since, until = (NOW - timedelta(days=30)).isoformat(), NOW.isoformat()
    query = {"since": since, "until": until}
    report = client.get("/api/v1/reports/activity", query_string=query, headers=auth).get_json()
    assert sum(kind["records"] for kind in report["by_kind"]) == 150
    assert len(report["latest"]) == 25
    assert report["latest"][0]["created_at"] >= report["latest"][-1]["created_at"]
    again = client.get("/api/v1/reports/activity", query_string=query, headers=auth).get_json()
    assert again == report
    backwards = {"since": until, "until": since}
    assert client.get("/api/v1/reports/activity", query_string=backwards, headers=auth).status_code == 400


def test_billing_route(
    client: FlaskClient, auth: dict[str, str], tenant: TenantSeed, services: FakeServices
) -> None:
    first, *_ = tenant.open_invoice_ids
    paid = client.post(f"/api/v1/billing/invoices/{first}/pay", headers=auth)
    assert paid.status_code == 200
    assert paid.get_json()["status"] == "paid"
    assert paid.get_json()["paid_at"] == NOW.isoformat()
    charge = next(request for request in services.requests if request.url.path == "/v1/charges")
    assert charge.headers["Idempotency-Key"] == f"invoice-{first}"
    assert client.post(f"/api/v1/billing/invoices/{first}/pay", headers=auth).status_code == 409
    assert client.post("/api/v1/billing/invoices/999999/pay", headers=auth).status_code == 404


def test_billing_gateway_errors(
    client: FlaskClient, auth: dict[str, str], tenant: TenantSeed, services: FakeServices
) -> None:
    invoice = tenant.open_invoice_ids[0]
    services.responses["/v1/charges"] = lambda _: httpx.Response(
        200, json={"id": "ch_2", "status": "declined"}
    )
    assert client.post(f"/api/v1/billing/invoices/{invoice}/pay", headers=auth).status_code == 402

    services.responses["/v1/charges"] = lambda _: httpx.Response(500)
    failed = client.post(f"/api/v1/billing/invoices/{invoice}/pay", headers=auth)
    assert failed.status_code == 502
    assert failed.get_json()["service"] == "payment-gateway"


def test_checkout_invoices_and_charges_a_plan_purchase(
    client: FlaskClient, auth: dict[str, str], services: FakeServices
) -> None:
    bought = client.post("/api/v1/billing/checkout", json={"plan": "team", "seats": 3}, headers=auth)
    assert bought.status_code == 201
    assert bought.get_json()["status"] == "paid"
    assert bought.get_json()["amount_cents"] == 3 * 2_900
    charge = next(request for request in services.requests if request.url.path == "/v1/charges")
    assert charge.headers["Idempotency-Key"] == f"invoice-{bought.get_json()['id']}"
    for body in ({"plan": "gold", "seats": 1}, {"plan": "team", "seats": 0}, {"plan": "team", "seats": True}):
        assert client.post("/api/v1/billing/checkout", json=body, headers=auth).status_code == 400

    services.responses["/v1/charges"] = lambda _: httpx.Response(503)
    failed = client.post("/api/v1/billing/checkout", json={"plan": "starter", "seats": 1}, headers=auth)
    assert failed.status_code == 502
    assert failed.get_json()["service"] == "payment-gateway"


def test_notification_route(client: FlaskClient, auth: dict[str, str], tenant: TenantSeed) -> None:
    listed = client.get("/api/v1/notifications", headers=auth).get_json()
    expected = count_rows(Notification, Notification.user_id == tenant.user_ids[0])
    assert listed["total"] == expected
    created = [item["created_at"] for item in listed["items"]]
    assert created == sorted(created, reverse=True)
    assert all(isinstance(item["attempts"], int) and item["attempts"] >= 0 for item in listed["items"])
    assert client.get("/api/v1/notifications?status=sent", headers=auth).get_json()["total"] == expected
    assert client.get("/api/v1/notifications?status=lost", headers=auth).status_code == 400


# --------------------------------------------------------------------------- error mapping


def test_unknown_routes_and_unhandled_errors_are_json(app: Flask, logs: RecordingHandler) -> None:
    def explode() -> None:
        raise RuntimeError("kaboom")

    app.add_url_rule("/explode", view_func=explode)
    client = app.test_client()

    not_found = client.get("/no/such/path")
    assert not_found.status_code == 404
    assert not_found.get_json() == {"error": "Not Found"}

    crashed = client.get("/explode")
    assert crashed.status_code == 500
    assert crashed.get_json() == {"error": "Internal server error"}
    [error] = logs.with_message("unhandled exception")
    assert error["level"] == "error"
    assert error["error.message"] == "kaboom"
    assert error["error.stack"][-1]["function"] == "explode"


def test_pool_timeout_is_a_503(settings: Settings, app: Flask) -> None:
    db.dispose()
    db.configure(
        settings, pool_size=1, max_overflow=0, pool_timeout=0.1, connect_args={"check_same_thread": False}
    )
    timeouts = sample(
        "db_client_connection_timeouts_total", {"db_client_connection_pool_name": "platform-api"}
    )
    client = app.test_client()

    with db.engine.connect():
        response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.get_json() == {"error": "Database unavailable"}
    assert sample(
        "db_client_connection_timeouts_total", {"db_client_connection_pool_name": "platform-api"}
    ) == (timeouts + 1)
    assert client.get("/health/ready").status_code == 200


# --------------------------------------------------------------------------- telemetry


def test_server_span_continues_the_caller_trace_and_parents_statement_spans(
    client: FlaskClient, auth: dict[str, str], spans: ListExporter
) -> None:
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {**auth, "traceparent": f"00-{trace_id}-{caller_span}-01", "User-Agent": "tests/1.0"}

    assert client.get("/api/v1/workflows", headers=headers).status_code == 200

    [server] = spans.named("GET /api/v1/workflows")
    assert server.kind is SpanKind.SERVER
    assert (server.context.trace_id, parent_span_id(server)) == (int(trace_id, 16), int(caller_span, 16))
    assert server.attributes["service.version"] == "1.4.2"
    assert server.attributes["http.route"] == "/api/v1/workflows"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["url.path"] == "/api/v1/workflows"
    assert server.attributes["user_agent.original"] == "tests/1.0"
    assert server.attributes["tenant.id"] > 0
    statements = [
        span
        for span in spans.spans
        if span.kind is SpanKind.CLIENT and parent_span_id(span) == server.context.span_id
    ]
    assert all("service.version" not in span.attributes for span in statements)
    assert {span.name for span in statements} >= {"SELECT api_keys", "SELECT workflows"}
    page_query = next(span for span in statements if span.name == "SELECT workflows")
    assert page_query.attributes["code.filepath"] == "platform_api/services/pagination.py"
    assert page_query.attributes["code.function"] == "paginate"
    assert page_query.attributes["code.lineno"] > 0


def test_server_span_uses_the_url_rule_and_ends_on_errors(
    client: FlaskClient, auth: dict[str, str], spans: ListExporter
) -> None:
    client.get("/api/v1/workflows/424242", headers=auth)
    client.get("/definitely/missing")

    [by_rule] = spans.named("GET /api/v1/workflows/<int:workflow_id>")
    assert by_rule.attributes["http.response.status_code"] == 404
    assert by_rule.end_time >= by_rule.start_time
    [unmatched] = spans.named("GET unmatched")
    assert unmatched.attributes["http.route"] == "unmatched"


def test_access_log_line_per_request(
    client: FlaskClient, auth: dict[str, str], tenant: TenantSeed, logs: RecordingHandler, spans: ListExporter
) -> None:
    client.get("/api/v1/users", headers=auth)
    client.get("/api/v1/users", headers={"X-API-Key": "wrong"})

    ok, denied = logs.with_message("request completed")
    assert ok["level"] == "info"
    assert ok["http.request.method"] == "GET"
    assert ok["http.route"] == "/api/v1/users"
    assert ok["http.response.status_code"] == 200
    assert ok["tenant_id"] == tenant.tenant_id
    assert ok["duration_ms"] >= 0
    assert ok["trace_id"] == format_trace_id(spans.named("GET /api/v1/users")[0].context.trace_id)
    assert denied["http.response.status_code"] == 401
    assert denied["tenant_id"] is None


def test_http_metrics(client: FlaskClient, auth: dict[str, str]) -> None:
    labels = {"http_route": "/api/v1/users", "http_request_method": "GET", "http_response_status_code": "200"}
    before = sample("http_server_request_duration_seconds_count", labels)
    unmatched = {"http_route": "unmatched", "http_request_method": "GET", "http_response_status_code": "404"}
    unmatched_before = sample("http_server_request_duration_seconds_count", unmatched)

    client.get("/api/v1/users", headers=auth)
    client.get("/nowhere")

    assert sample("http_server_request_duration_seconds_count", labels) == before + 1
    assert sample("http_server_request_duration_seconds_count", unmatched) == unmatched_before + 1
    assert sample("http_server_active_requests") == 0
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert b"db_client_connection_count" in scrape.data


# --------------------------------------------------------------------------- scheduler and jobs


def test_scheduler_declares_its_jobs_without_starting(settings: Settings) -> None:
    scheduler = create_scheduler(settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}

    assert not scheduler.running
    assert set(jobs) == {
        *HOURLY_JOBS,
        "report_long_running_transactions",
        "retry_failed_notifications",
        "advance_workflow_runs",
        "send_outbound_emails",
    }
    for job_id in HOURLY_JOBS:
        assert str(jobs[job_id].trigger) == "cron[minute='0']"
    assert str(jobs["retry_failed_notifications"].trigger) == "cron[minute='*/5']"
    assert str(jobs["advance_workflow_runs"].trigger) == "cron[minute='*/2']"
    assert jobs["report_long_running_transactions"].trigger.interval == timedelta(minutes=1)
    assert jobs["send_outbound_emails"].trigger.interval == timedelta(minutes=1)
    assert jobs["report_long_running_transactions"].kwargs == {
        "threshold_seconds": settings.db_transaction_timeout
    }


def test_each_job_runs_against_the_seeded_database(
    settings: Settings,
    seeded: SeedSummary,
    services: FakeServices,
    logs: RecordingHandler,
    spans: ListExporter,
) -> None:
    jobs = {job.id: job for job in create_scheduler(settings).get_jobs()}
    successes = {
        job_id: sample("scheduler_job_runs_total", {"job": job_id, "outcome": "success"}) for job_id in jobs
    }
    with db.session() as session:
        workflow_id = seeded.tenants[0].workflow_ids[0]
        session.add(
            WorkflowRun(workflow_id=workflow_id, tenant_id=seeded.tenants[0].tenant_id, status="pending")
        )
        session.commit()

    for job in jobs.values():
        job.func(*job.args, **job.kwargs)

    for job_id in jobs:
        assert (
            sample("scheduler_job_runs_total", {"job": job_id, "outcome": "success"}) == successes[job_id] + 1
        )
    tenants = len(seeded.tenants)
    assert count_rows(TenantStats) == tenants
    assert count_rows(UsageReport) == 2 * tenants
    digests = count_rows(Notification, Notification.subject == "Your daily workspace activity")
    assert digests == count_rows(User, User.role.in_(("owner", "admin")))
    assert count_rows(Notification, Notification.status == "sent") == count_rows(Notification)
    assert services.paths().count("/v1/messages") == digests
    assert count_rows(User, User.engagement_score > 0) == count_rows(User)
    assert count_rows(WorkflowRun, WorkflowRun.status == "running") == 1

    finished = {entry["job.id"]: entry for entry in logs.with_message("job finished")}
    assert finished["sync_tenant_data"]["tenants_processed"] == tenants
    assert finished["sync_tenant_data"]["records_scanned"] == seeded.data_records
    assert finished["retry_failed_notifications"]["sent"] == digests
    [root] = spans.named("job sync_tenant_data")
    tenant_spans = [
        span
        for span in spans.named("sync_tenant_data tenant")
        if parent_span_id(span) == root.context.span_id
    ]
    assert len(tenant_spans) == tenants
    assert all(span.context.trace_id == root.context.trace_id for span in tenant_spans)
    assert root.parent is None and root.attributes["service.version"] == "1.4.2"


def test_failing_job_is_logged_and_counted(
    settings: Settings, database: None, logs: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("engine down")

    monkeypatch.setattr(workflow_engine, "advance_pending_runs", broken)
    [job] = [job for job in create_scheduler(settings).get_jobs() if job.id == "advance_workflow_runs"]
    errors = sample("scheduler_job_runs_total", {"job": "advance_workflow_runs", "outcome": "error"})

    with pytest.raises(RuntimeError):
        job.func()

    assert (
        sample("scheduler_job_runs_total", {"job": "advance_workflow_runs", "outcome": "error"}) == errors + 1
    )
    [failure] = logs.with_message("job failed")
    assert failure["error.message"] == "engine down"
    assert sample("scheduler_jobs_running", {"job": "advance_workflow_runs"}) == 0


def test_long_running_transactions_are_reported(
    settings: Settings, database: None, fake_clock: FakeClock, logs: RecordingHandler
) -> None:
    [job] = [
        job for job in create_scheduler(settings).get_jobs() if job.id == "report_long_running_transactions"
    ]

    with transactions.transaction("slow_report") as session:
        session.execute(select(1))
        fake_clock.advance(settings.db_transaction_timeout + 5)
        job.func(*job.args, **job.kwargs)

    [warning] = [
        entry
        for entry in logs.with_message("long-running transaction")
        if entry["transaction.name"] == "slow_report"
    ]
    assert warning["level"] == "warning"
    assert warning["transaction.age_seconds"] == settings.db_transaction_timeout + 5
    assert logs.with_message("open transactions checked")


# --------------------------------------------------------------------------- transactions


def test_transaction_commits_and_is_tracked_while_open(database: None) -> None:
    committed = sample("db_transaction_duration_seconds_count", {"transaction": "add_tenant"})

    with transactions.transaction("add_tenant") as session:
        session.add(Tenant(name="Acme", slug="acme", plan="team"))
        [record] = [t for t in transactions.open_transactions() if t.session is session]
        assert record.name == "add_tenant"
        assert record.started_at == NOW

    assert count_rows(Tenant, Tenant.slug == "acme") == 1
    assert all(t.name != "add_tenant" for t in transactions.open_transactions())
    assert sample("db_transaction_duration_seconds_count", {"transaction": "add_tenant"}) == committed + 1


def test_a_new_engine_starts_with_no_transaction_open(database: None, settings: Settings) -> None:
    """A worker process configures its database at start-up: the transactions its predecessor left
    open are not its own to report."""
    left_open = transactions.transaction("left_open")
    session = left_open.__enter__()
    session.add(Tenant(name="Half", slug="half", plan="free"))
    assert [t.name for t in transactions.open_transactions()] == ["left_open"]

    db.configure(settings, connect_args={"check_same_thread": False})

    assert transactions.open_transactions() == []
    session.close()


def test_transaction_rolls_back_on_database_errors(database: None) -> None:
    with db.session() as session:
        session.add(Tenant(name="Taken", slug="taken", plan="free"))
        session.commit()

    with pytest.raises(IntegrityError), transactions.transaction("add_tenants") as session:
        session.add(Tenant(name="Fresh", slug="fresh", plan="free"))
        session.flush()
        session.add(Tenant(name="Taken again", slug="taken", plan="free"))
        session.flush()

    assert count_rows(Tenant, Tenant.slug == "fresh") == 0
    assert all(t.name != "add_tenants" for t in transactions.open_transactions())


def test_transaction_past_its_timeout_is_rolled_back(database: None, fake_clock: FakeClock) -> None:
    with (
        pytest.raises(transactions.TransactionTimeout),
        transactions.transaction("slow", timeout=5) as session,
    ):
        session.add(Tenant(name="Late", slug="late", plan="free"))
        session.flush()
        fake_clock.advance(6)

    assert count_rows(Tenant, Tenant.slug == "late") == 0
    assert all(t.name != "slow" for t in transactions.open_transactions())


# --------------------------------------------------------------------------- seed, cache


def _seed_file(path: Path, seed: int) -> tuple[SeedSummary, list[tuple[str, str]]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
        summary = seed_database(
            engine,
            seed=seed,
            tenants=2,
            users_per_tenant=3,
            workflows_per_tenant=2,
            records_per_tenant=50,
            now=NOW,
        )
        with engine.connect() as connection:
            users = [
                tuple(row) for row in connection.execute(select(User.email, User.name).order_by(User.id))
            ]
    finally:
        engine.dispose()
    return summary, users


def test_seed_is_deterministic(tmp_path: Path) -> None:
    first = _seed_file(tmp_path / "a.db", seed=5)
    second = _seed_file(tmp_path / "b.db", seed=5)
    other = _seed_file(tmp_path / "c.db", seed=6)

    assert first == second
    assert first[0].tenants[0].api_keys != other[0].tenants[0].api_keys
    summary = first[0]
    assert summary.data_records == 100
    assert all(key.startswith("pk_live_") for t in summary.tenants for key in t.api_keys)
    assert all(len(t.user_ids) == len(t.api_keys) == 3 and t.open_invoice_ids for t in summary.tenants)


def test_ttl_cache(fake_clock: FakeClock) -> None:
    cache = TTLCache("test_cache", ttl=60, max_entries=2)
    misses = sample("cache_requests_total", {"cache": "test_cache", "result": "miss"})

    assert cache.get("a") is None
    cache.set("a", 1)
    assert cache.get("a") == 1
    fake_clock.advance(61)
    assert cache.get("a") is None
    assert cache.incr("n") == 1
    assert cache.incr("n", 2) == 3
    cache.set("b", 2)
    cache.set("c", 3)
    assert cache.get("n") is None
    cache.delete("c")
    assert cache.get("c") is None
    assert sample("cache_requests_total", {"cache": "test_cache", "result": "miss"}) == misses + 4


def test_outbound_call_metrics_carry_the_status_code_and_the_error_type() -> None:
    """http_client_request_duration_seconds has OpenTelemetry's http.response.status_code and
    error.type: a call answered with an error status carries that status as its error type, a call
    that got no response (a timeout, a refused connection) carries no status code and the
    exception's fully-qualified class name, a successful one neither error type."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("timed out", request=request)
        if request.url.path == "/down":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200 if request.url.path == "/v1/ok" else 402, json={})

    plumbing.configure(http_transport=httpx.MockTransport(answer))
    try:
        client = http_client.HttpServiceClient("https://api.paystride.com", timeout=1.0)
        client.service_name = "status-code-check"
        assert client.request("GET", "/v1/ok").status_code == 200
        assert client.request("POST", "/v1/charges").status_code == 402
        for path in ("/slow", "/down"):
            with pytest.raises(http_client.ExternalServiceError):
                client.request("POST", path)
    finally:
        plumbing.configure(http_transport=None)
    counts = {
        (sample.labels["http_response_status_code"], sample.labels["error_type"]): sample.value
        for family in metrics.REGISTRY.collect()
        if family.name == "http_client_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels["peer_service"] == "status-code-check"
    }
    assert counts == {
        ("200", ""): 1.0,
        ("402", "402"): 1.0,
        ("", "httpx.ReadTimeout"): 1.0,
        ("", "httpx.ConnectError"): 1.0,
    }


def test_outbound_call_span_propagates_its_context_and_records_the_timeout(
    spans: ListExporter, fake_clock: FakeClock
) -> None:
    """The client span's context goes out in ``traceparent``; its times come from the service clock
    and a timeout is recorded on it as an ``exception`` event with an error status."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["traceparent"])
        fake_clock.advance(1.5)
        raise httpx.ReadTimeout("timed out", request=request)

    plumbing.configure(http_transport=httpx.MockTransport(answer))
    try:
        client = http_client.HttpServiceClient("https://api.paystride.com", timeout=1.0)
        with (
            pytest.raises(http_client.ExternalServiceError),
            tracing.start_as_current_span("job", SpanKind.INTERNAL),
        ):
            client.request("POST", "/v1/charges")
    finally:
        plumbing.configure(http_transport=None)

    [call] = [span for span in spans.spans if span.kind is SpanKind.CLIENT]
    [job] = spans.named("job")
    context = call.context
    assert sent == [
        f"00-{format_trace_id(context.trace_id)}-{context.span_id:016x}-{context.trace_flags:02x}"
    ]
    assert parent_span_id(call) == job.context.span_id
    assert call.start_time == round(NOW.timestamp() * 1e9)
    assert call.end_time - call.start_time == 1_500_000_000
    assert call.status.status_code is StatusCode.ERROR and call.status.description == "timed out"
    [event] = call.events
    assert event.name == "exception" and event.timestamp == call.end_time
    assert event.attributes["exception.type"] == "httpx.ReadTimeout"
    # The job span saw the ExternalServiceError leave its block: failed, with the error recorded once.
    assert job.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in job.events] == [
        "platform_api.lib.http_client.ExternalServiceError"
    ]
