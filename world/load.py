"""Client traffic: Poisson arrivals on a diurnal curve, a weighted endpoint mix, realistic payloads.

Clients are the seeded tenants' API keys.  Larger tenants send more traffic (weights follow a
Zipf-like curve, as B2B platforms see).  The rate follows ``base_rps * (1 + amplitude *
cos(2*pi*(hour - peak_hour) / 24))`` times the seeded drift and bursts of
:class:`world.clients.TrafficDrift`; inter-arrival times are exponential at the current rate.
Each request comes from one of its tenant's addresses (:mod:`world.clients`).  A tenant pays
each of its open invoices once, as a customer would.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faker import Faker

from obsim.scenario import Load
from world.clients import TrafficDrift, tenant_clients
from world.randomness import derive_seed
from world.timekeeping import Scheduler


@dataclass(slots=True)
class Request:
    """One client request as the load builds it; each engine sends it its own way."""

    method: str
    path: str
    query: str = ""
    body: Any = None
    api_key: str = ""
    client_addr: str = "203.0.113.10"
    user_agent: str = "platform-client/2.4"


RequestBuilder = Callable[["LoadGenerator", Any], Request]

_STEP_TYPES = ("http_request", "transform", "filter", "notify", "delay")
_SOURCES = ("crm", "billing", "webhook", "csv-upload", "warehouse")
_KINDS = ("order", "invoice", "refund", "subscription", "event")
_PLANS = ("starter", "team", "team", "business")


def _page(rng: random.Random) -> str:
    return f"page={rng.choice((1, 1, 1, 2, 3))}&page_size={rng.choice((25, 25, 50))}"


def _workflow_definition(rng: random.Random) -> dict[str, Any]:
    return {
        "trigger": rng.choice(("manual", "schedule", "webhook")),
        "steps": [
            {"name": f"step-{i + 1}", "type": rng.choice(_STEP_TYPES)} for i in range(rng.randint(2, 6))
        ],
    }


def _records(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "kind": rng.choice(_KINDS),
            "amount_cents": rng.randint(100, 250_000),
            "payload": {"external_id": f"ext-{rng.getrandbits(40):010x}"},
        }
        for _ in range(rng.randint(1, 12))
    ]


def _activity_range(g: LoadGenerator) -> str:
    """The dashboard's activity panel asks for the last day or week up to the current second."""
    until = datetime.fromtimestamp(int(g.now()), UTC)
    since = until - timedelta(days=g.rng.choice((1, 7, 7)))
    return f"since={since:%Y-%m-%dT%H:%M:%SZ}&until={until:%Y-%m-%dT%H:%M:%SZ}"


#: Share of addresses typed into the invite form with a doubled dot in the domain ("gmail..com"):
#: the API's format check accepts them, the email provider does not.
_INVITE_TYPO_RATE = 0.004


def _invitee(g: LoadGenerator) -> str:
    local, domain = g.fake.email().split("@")
    local = f"{local}.{g.rng.getrandbits(16):04x}"
    if g.rng.random() < _INVITE_TYPO_RATE:
        domain = domain.replace(".", "..", 1)
    return f"{local}@{domain}"


BUILDERS: dict[str, RequestBuilder] = {
    "health": lambda g, t: Request("GET", "/health"),
    "list_workflows": lambda g, t: Request("GET", "/api/v1/workflows", _page(g.rng)),
    # The dashboard's Workflows page, which also shows each workflow's latest run.
    "list_workflows_with_last_run": lambda g, t: Request(
        "GET", "/api/v1/workflows", f"{_page(g.rng)}&include=last_run"
    ),
    "get_workflow": lambda g, t: Request("GET", f"/api/v1/workflows/{g.rng.choice(t.workflow_ids)}"),
    "create_workflow": lambda g, t: Request(
        "POST",
        "/api/v1/workflows",
        body={
            "name": f"{g.fake.bs().title()} {g.rng.getrandbits(24):06x}",
            "definition": _workflow_definition(g.rng),
        },
    ),
    "start_run": lambda g, t: Request(
        "POST", f"/api/v1/workflows/{g.rng.choice(t.workflow_ids)}/runs", body={}
    ),
    "list_runs": lambda g, t: Request("GET", f"/api/v1/workflows/{g.rng.choice(t.workflow_ids)}/runs"),
    "list_users": lambda g, t: Request("GET", "/api/v1/users", _page(g.rng)),
    "get_user": lambda g, t: Request("GET", f"/api/v1/users/{g.rng.choice(t.user_ids)}"),
    "create_user": lambda g, t: Request(
        "POST",
        "/api/v1/users",
        body={
            "email": f"{g.rng.getrandbits(32):08x}.{g.fake.email()}",
            "name": g.fake.name(),
            "role": "member",
        },
    ),
    "invite_user": lambda g, t: Request(
        "POST",
        "/api/v1/invitations",
        body={"email": _invitee(g), "role": g.rng.choice(("member", "member", "admin"))},
    ),
    "update_user": lambda g, t: Request(
        "PATCH", f"/api/v1/users/{g.rng.choice(t.user_ids)}", body={"name": g.fake.name()}
    ),
    "import_data": lambda g, t: Request(
        "POST", "/api/v1/data/import", body={"source": g.rng.choice(_SOURCES), "records": _records(g.rng)}
    ),
    "list_records": lambda g, t: Request(
        "GET", "/api/v1/data/records", f"limit={g.rng.choice((20, 50, 100))}"
    ),
    "export_data": lambda g, t: Request("GET", "/api/v1/data/export"),
    "report_summary": lambda g, t: Request(
        "GET", "/api/v1/reports/summary", f"days={g.rng.choice((1, 7, 7, 30))}"
    ),
    "usage_report": lambda g, t: Request("GET", "/api/v1/reports/usage"),
    "activity_report": lambda g, t: Request("GET", "/api/v1/reports/activity", _activity_range(g)),
    "pay_invoice": lambda g, t: Request(
        "POST", f"/api/v1/billing/invoices/{g.unpaid_invoice(t)}/pay", body={}
    ),
    "checkout": lambda g, t: Request(
        "POST",
        "/api/v1/billing/checkout",
        body={"plan": g.rng.choice(_PLANS), "seats": g.rng.choice((1, 1, 2, 3, 5, 10, 25))},
    ),
    "list_notifications": lambda g, t: Request("GET", "/api/v1/notifications"),
    "list_sessions": lambda g, t: Request("GET", "/api/v1/sessions"),
}


class LoadGenerator:
    def __init__(
        self,
        kernel: Scheduler | None,
        load: Load,
        tenants: list[Any],
        handle: Callable[[Request], None],
        rng: random.Random,
        end: float,
        *,
        scenario_clock: Callable[[], float] | None = None,
        scenario_start: float | None = None,
    ) -> None:
        """``scenario_clock`` reads scenario time and ``scenario_start`` is the window's start on
        it; both default to the kernel's clock (which starts at the window's start).  Live mode
        passes its compressed timeline's.  With neither a kernel nor a clock (the floor benchmark)
        every endpoint gets traffic throughout."""
        self.kernel = kernel
        self.load = load
        self.tenants = tenants
        self.handle = handle
        self.rng = rng
        self.end = end
        self.fake = Faker("en_US")
        self.fake.seed_instance(rng.getrandbits(32))
        self.sent = 0
        names = sorted(load.mix)
        self._endpoints = [BUILDERS[name] for name in names]
        self._pay_endpoint = names.index("pay_invoice") if "pay_invoice" in names else -1
        self._endpoint_cdf = list(itertools.accumulate(load.mix[name] for name in names))
        if scenario_clock is None and kernel is not None:
            scenario_clock = lambda: kernel.now  # noqa: E731
        self._scenario_now: Callable[[], float] = scenario_clock or (lambda: 0.0)
        # When each endpoint starts getting traffic (``load.from_minute``), in scenario time.
        start = scenario_start if scenario_start is not None else self._scenario_now()
        self._opens_at = [
            start + load.from_minute[name] * 60
            if scenario_clock is not None and name in load.from_minute
            else -math.inf
            for name in names
        ]
        self._tenant_cdf = list(itertools.accumulate(1.0 / (rank + 1) ** 0.8 for rank in range(len(tenants))))
        self._clients = tenant_clients(random.Random(rng.getrandbits(64)), len(tenants))
        self._drift = TrafficDrift(derive_seed(rng.getrandbits(64), "traffic-drift"))
        # Each tenant's open invoices in the order its finance team pays them; each is paid once.
        self._unpaid = {
            id(tenant): rng.sample(tuple(tenant.open_invoice_ids), len(tenant.open_invoice_ids))
            for tenant in tenants
        }

    def now(self) -> float:
        """The clients' clock: virtual time, or the wall clock when live mode sends the requests."""
        return self.kernel.now if self.kernel is not None else time.time()

    def rate_at(self, now: float) -> float:
        hour = (now % 86400) / 3600.0
        swing = math.cos(2 * math.pi * (hour - self.load.peak_hour_utc) / 24.0)
        return self.load.base_rps * (1.0 + self.load.diurnal_amplitude * swing) * self._drift.factor(now)

    def unpaid_invoice(self, tenant: Any) -> int:
        """The next of ``tenant``'s open invoices to pay (0, unknown, once it has paid them all)."""
        unpaid = self._unpaid.get(id(tenant))
        return unpaid.pop() if unpaid else 0

    def _pick(self, cdf: list[float]) -> int:
        return bisect.bisect_left(cdf, self.rng.random() * cdf[-1])

    def next_request(self) -> Request:
        tenant_index = self._pick(self._tenant_cdf)
        tenant = self.tenants[tenant_index]
        endpoint = self._pick(self._endpoint_cdf)
        while self._opens_at[endpoint] > self._scenario_now() or (
            endpoint == self._pay_endpoint and not self._unpaid[id(tenant)]
        ):
            endpoint = self._pick(self._endpoint_cdf)
        request = self._endpoints[endpoint](self, tenant)
        request.api_key = self.rng.choice(tenant.api_keys)
        request.client_addr = self._clients[tenant_index].pick(self.rng)
        return request

    def run(self) -> None:
        """The arrival process: one task that spawns a task per request."""
        kernel = self.kernel
        while True:
            kernel.sleep(self.rng.expovariate(self.rate_at(kernel.now)))
            if kernel.now >= self.end:
                return
            self.sent += 1
            kernel.spawn(self.handle, self.next_request(), name="request")
