"""Demo and staging data: a reproducible set of tenants with users, keys, workflows and history.

The same ``seed`` always produces the same data (and, on an empty database, the same ids), so a
staging environment can be rebuilt identically and load tests can be replayed.  All randomness
comes from one :class:`random.Random` and one seeded Faker instance; timestamps are relative to the
``now`` argument.  Rows are written with bulk ``INSERT``s, which keeps several hundred thousand data
records to a few seconds.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker
from sqlalchemy import Connection, Engine, insert

from platform_api.models import (
    ApiKey,
    AuditEvent,
    DataRecord,
    Invoice,
    Notification,
    Tenant,
    User,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from platform_api.models.base import Base
from platform_api.models.data import RECORD_KINDS
from platform_api.models.tenancy import PLANS

Row = dict[str, Any]

HISTORY = timedelta(days=30)
INSERT_BATCH = 10_000
SOURCES = ("shopify", "stripe", "salesforce", "hubspot", "netsuite", "csv_upload", "api")
STEP_TYPES = ("http_request", "transform", "filter", "notify", "delay")
WORKFLOW_NAMES = (
    "Sync orders to warehouse",
    "Nightly CRM export",
    "Invoice reconciliation",
    "Lead enrichment",
    "Refund alerts",
    "Subscription renewals",
    "Churn risk review",
    "Inventory threshold alerts",
)
AUDIT_ACTIONS = ("workflow.updated", "workflow.run_started", "data.exported", "report.viewed")
NOTIFICATION_SUBJECTS = ("Workflow run failed", "Your invoice is ready", "New login to your account")


@dataclass(frozen=True)
class TenantSeed:
    """What a client needs to act as one tenant; ``api_keys[i]`` belongs to ``user_ids[i]``."""

    tenant_id: int
    slug: str
    api_keys: tuple[str, ...]
    user_ids: tuple[int, ...]
    workflow_ids: tuple[int, ...]
    open_invoice_ids: tuple[int, ...]


@dataclass(frozen=True)
class SeedSummary:
    tenants: tuple[TenantSeed, ...]
    data_records: int


@dataclass(frozen=True)
class _Plan:
    users: int
    workflows: int
    records: int
    now: datetime


def seed_database(
    engine: Engine,
    *,
    seed: int,
    tenants: int,
    users_per_tenant: int,
    workflows_per_tenant: int,
    records_per_tenant: int,
    now: datetime,
) -> SeedSummary:
    """Fill a migrated, empty database; returns what clients need to call the API as each tenant."""
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    plan = _Plan(users_per_tenant, workflows_per_tenant, records_per_tenant, now)
    slugs: set[str] = set()
    tenant_rows = [_tenant_row(fake, rng, slugs, now) for _ in range(tenants)]
    with engine.begin() as connection:
        tenant_ids = _insert_returning_ids(connection, Tenant, tenant_rows)
        seeded = tuple(
            _seed_tenant(connection, fake, rng, tenant_id, row["slug"], plan)
            for tenant_id, row in zip(tenant_ids, tenant_rows, strict=True)
        )
    return SeedSummary(tenants=seeded, data_records=tenants * records_per_tenant)


def _seed_tenant(
    connection: Connection, fake: Faker, rng: random.Random, tenant_id: int, slug: str, plan: _Plan
) -> TenantSeed:
    now = plan.now
    emails: set[str] = set()
    user_ids = _insert_returning_ids(
        connection,
        User,
        [_user_row(fake, rng, tenant_id, slug, position, emails, now) for position in range(plan.users)],
    )
    api_keys = [f"pk_live_{rng.getrandbits(128):032x}" for _ in user_ids]
    _insert_all(
        connection,
        ApiKey,
        (
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "key_hash": hashlib.sha256(key.encode()).hexdigest(),
                "prefix": key[:12],
                "created_at": _before(rng, now, timedelta(days=365), HISTORY),
                "revoked_at": None,
            }
            for user_id, key in zip(user_ids, api_keys, strict=True)
        ),
    )
    workflow_rows = [
        _workflow_row(rng, tenant_id, user_ids, position, now) for position in range(plan.workflows)
    ]
    workflow_ids = _insert_returning_ids(connection, Workflow, workflow_rows)
    _seed_runs(connection, rng, tenant_id, workflow_ids, workflow_rows, now)
    _insert_all(connection, DataRecord, _data_records(rng, tenant_id, plan.records, now))
    _insert_all(connection, AuditEvent, _audit_events(rng, tenant_id, user_ids, workflow_ids, now))
    _insert_all(connection, Notification, _notifications(rng, tenant_id, user_ids, now))
    invoice_rows = _invoices(rng, tenant_id, now)
    invoice_ids = _insert_returning_ids(connection, Invoice, invoice_rows)
    return TenantSeed(
        tenant_id=tenant_id,
        slug=slug,
        api_keys=tuple(api_keys),
        user_ids=tuple(user_ids),
        workflow_ids=tuple(workflow_ids),
        open_invoice_ids=tuple(
            invoice_id
            for invoice_id, row in zip(invoice_ids, invoice_rows, strict=True)
            if row["status"] == "open"
        ),
    )


def _tenant_row(fake: Faker, rng: random.Random, slugs: set[str], now: datetime) -> Row:
    name = fake.company()
    return {
        "name": name,
        "slug": _unique(_slugify(name), slugs, "-"),
        "plan": rng.choice(PLANS),
        "created_at": _before(rng, now, timedelta(days=720), timedelta(days=60)),
    }


def _user_row(
    fake: Faker, rng: random.Random, tenant_id: int, slug: str, position: int, emails: set[str], now: datetime
) -> Row:
    name = fake.name()
    local = _unique(_slugify(name, "."), emails, ".")
    return {
        "tenant_id": tenant_id,
        "email": f"{local}@{slug}.com",
        "name": name,
        "role": "owner" if position == 0 else "admin" if position < 3 else "member",
        "created_at": _before(rng, now, timedelta(days=365), HISTORY),
        "last_login_at": _before(rng, now, HISTORY) if rng.random() < 0.9 else None,
        "engagement_score": 0.0,
    }


def _workflow_row(
    rng: random.Random, tenant_id: int, user_ids: list[int], position: int, now: datetime
) -> Row:
    base_name = WORKFLOW_NAMES[position % len(WORKFLOW_NAMES)]
    steps = []
    for index in range(rng.randint(2, 5)):
        step_type = rng.choice(STEP_TYPES)
        step: Row = {"name": f"{step_type}-{index + 1}", "type": step_type}
        if step_type == "delay":
            step["seconds"] = rng.choice((30, 60, 300))
        steps.append(step)
    created_at = _before(rng, now, timedelta(days=180), HISTORY)
    return {
        "tenant_id": tenant_id,
        "name": base_name if position < len(WORKFLOW_NAMES) else f"{base_name} #{position + 1}",
        "definition": {"trigger": {"type": rng.choice(("webhook", "schedule"))}, "steps": steps},
        "status": "active" if rng.random() < 0.85 else "paused",
        "created_by": rng.choice(user_ids) if user_ids else None,
        "created_at": created_at,
        "updated_at": created_at,
    }


def _seed_runs(
    connection: Connection,
    rng: random.Random,
    tenant_id: int,
    workflow_ids: list[int],
    workflow_rows: list[Row],
    now: datetime,
) -> None:
    """One finished run per workflow, so every workflow has history."""
    run_rows = []
    for workflow_id in workflow_ids:
        started_at = _before(rng, now, HISTORY)
        run_rows.append(
            {
                "workflow_id": workflow_id,
                "tenant_id": tenant_id,
                "status": "succeeded",
                "started_at": started_at,
                "finished_at": started_at + timedelta(minutes=rng.randint(2, 20)),
                "error": None,
            }
        )
    run_ids = _insert_returning_ids(connection, WorkflowRun, run_rows)
    _insert_all(
        connection,
        WorkflowStep,
        (
            {
                "run_id": run_id,
                "name": step["name"],
                "position": position,
                "status": "succeeded",
                "attempts": 1,
                "started_at": run["started_at"],
                "finished_at": run["finished_at"],
            }
            for run_id, run, workflow in zip(run_ids, run_rows, workflow_rows, strict=True)
            for position, step in enumerate(workflow["definition"]["steps"])
        ),
    )


def _data_records(rng: random.Random, tenant_id: int, count: int, now: datetime) -> Iterator[Row]:
    for _ in range(count):
        source = rng.choice(SOURCES)
        kind = rng.choice(RECORD_KINDS)
        yield {
            "tenant_id": tenant_id,
            "source": source,
            "kind": kind,
            "amount_cents": 0 if kind == "event" else rng.randint(500, 250_000),
            "payload": {
                "external_id": f"{source[:3]}_{rng.getrandbits(40):010x}",
                "currency": "USD",
                "status": rng.choice(("completed", "pending", "cancelled")),
                "line_items": rng.randint(1, 8),
            },
            "created_at": _before(rng, now, HISTORY),
        }


def _audit_events(
    rng: random.Random, tenant_id: int, user_ids: list[int], workflow_ids: list[int], now: datetime
) -> Iterator[Row]:
    for user_id in user_ids:
        for _ in range(rng.randint(0, 15)):
            target = f"workflow:{rng.choice(workflow_ids)}" if workflow_ids else f"user:{user_id}"
            yield {
                "tenant_id": tenant_id,
                "actor_id": user_id,
                "action": rng.choice(AUDIT_ACTIONS),
                "target": target,
                "created_at": _before(rng, now, HISTORY),
            }


def _notifications(rng: random.Random, tenant_id: int, user_ids: list[int], now: datetime) -> Iterator[Row]:
    for user_id in user_ids:
        for _ in range(rng.randint(0, 3)):
            created_at = _before(rng, now, HISTORY, timedelta(hours=1))
            yield {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "channel": "email",
                "subject": rng.choice(NOTIFICATION_SUBJECTS),
                "body": "",
                "status": "sent",
                "attempts": 1,
                "created_at": created_at,
                "sent_at": created_at + timedelta(seconds=rng.randint(1, 60)),
            }


def _invoices(rng: random.Random, tenant_id: int, now: datetime) -> list[Row]:
    """Three paid monthly invoices, one or two open ones, and the open usage invoices of the last
    month (metered workflow runs, invoiced per batch and paid by the tenant's finance team)."""
    rows = []
    for month in (3, 2, 1):
        created_at = now - timedelta(days=30 * month, hours=rng.randint(0, 23))
        rows.append(_invoice_row(rng, tenant_id, created_at, created_at + timedelta(days=rng.randint(1, 5))))
    for _ in range(rng.randint(1, 2)):
        rows.append(_invoice_row(rng, tenant_id, _before(rng, now, timedelta(days=20)), None))
    for _ in range(rng.randint(90, 180)):
        row = _invoice_row(rng, tenant_id, _before(rng, now, timedelta(days=30)), None)
        row["amount_cents"] = rng.randint(500, 40_000)
        rows.append(row)
    return rows


def _invoice_row(rng: random.Random, tenant_id: int, created_at: datetime, paid_at: datetime | None) -> Row:
    return {
        "tenant_id": tenant_id,
        "amount_cents": rng.randint(2_000, 500_000),
        "currency": "USD",
        "status": "open" if paid_at is None else "paid",
        "created_at": created_at,
        "paid_at": paid_at,
    }


def _before(rng: random.Random, now: datetime, most: timedelta, least: timedelta = timedelta(0)) -> datetime:
    """A random instant between ``most`` and ``least`` before ``now`` (microsecond precision)."""
    span = int((most - least).total_seconds() * 1_000_000)
    return now - least - timedelta(microseconds=rng.randrange(span))


def _slugify(text: str, separator: str = "-") -> str:
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator)[:60]


def _unique(candidate: str, taken: set[str], separator: str) -> str:
    value = candidate
    for suffix in itertools.count(2):
        if value not in taken:
            break
        value = f"{candidate}{separator}{suffix}"
    taken.add(value)
    return value


def _insert_returning_ids(connection: Connection, model: type[Base], rows: list[Row]) -> list[int]:
    """Insert ``rows`` and return their generated ids, in the order of ``rows``."""
    if not rows:
        return []
    table = model.__table__
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def _insert_all(connection: Connection, model: type[Base], rows: Iterable[Row]) -> None:
    table = model.__table__
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, INSERT_BATCH)):
        connection.execute(insert(table), batch)
