"""The load's clients: public addresses, a tenant's invoices paid once, and traffic that drifts."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from types import SimpleNamespace

from obsim.scenario import Load
from simulator.kernel import Kernel
from world.clients import TrafficDrift
from world.load import LoadGenerator


def _generator(seed: int, tenants: list[SimpleNamespace]) -> LoadGenerator:
    load = Load(base_rps=10, mix={"health": 1, "pay_invoice": 1})
    return LoadGenerator(Kernel(start=0.0), load, tenants, lambda request: None, random.Random(seed), end=1.0)


def test_addresses_are_public_and_a_few_clients_send_most_requests():
    tenants = [SimpleNamespace(api_keys=("k",), open_invoice_ids=()) for _ in range(6)]
    generator = _generator(5, tenants)
    seen = Counter(generator.next_request().client_addr for _ in range(3000))
    for address in seen:
        ip = ipaddress.ip_address(address)
        assert ip.is_global and not ip.is_private, address  # no documentation or private ranges
    top = sum(count for _, count in seen.most_common(len(tenants)))
    assert top > 0.5 * 3000 and len(seen) > 3 * len(tenants)
    first, second = _generator(5, tenants), _generator(5, tenants)
    assert [first.next_request().client_addr for _ in range(50)] == [
        second.next_request().client_addr for _ in range(50)
    ]


def test_each_open_invoice_is_paid_once_then_the_tenant_stops_paying():
    tenant = SimpleNamespace(api_keys=("k",), open_invoice_ids=(11, 12, 13))
    generator = _generator(1, [tenant])
    paths = [generator.next_request().path for _ in range(200)]
    paid = [path for path in paths if path.startswith("/api/v1/billing/invoices/")]
    assert sorted(paid) == [f"/api/v1/billing/invoices/{i}/pay" for i in (11, 12, 13)]


def test_traffic_drifts_and_bursts_the_same_way_for_the_same_seed():
    drift = TrafficDrift(7)
    factors = [drift.factor(t) for t in range(0, 6 * 3600, 15)]
    assert 0.75 <= min(factors) < 0.97 and 1.03 < max(factors) <= 2.2
    assert len({round(f, 6) for f in factors}) > len(factors) // 2
    later = TrafficDrift(7)
    assert [later.factor(t) for t in reversed(range(0, 6 * 3600, 15))] == factors[::-1]
    assert [TrafficDrift(8).factor(t) for t in range(0, 3600, 15)] != factors[:240]
