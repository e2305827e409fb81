"""External services the application calls, as an httpx transport with latency and failure models.

Each service has a healthy behaviour (log-normal latency, a small error rate) and, from the
scenario's conditions, periods of degradation: higher latency, more 5xx answers, or requests that
hang.  A request that would take longer than the client's own read timeout makes the client wait
exactly that timeout and raises ``httpx.ReadTimeout``, as a real socket would.
"""

from __future__ import annotations

import math
import random
from typing import Any

import httpx

from simulator.kernel import Kernel
from simulator.refusals import REFUSALS
from world.external_models import RESPONSES, ServiceModel


class SimulatedServices(httpx.BaseTransport):
    """Routes requests by host name to a :class:`ServiceModel`."""

    def __init__(
        self, kernel: Kernel, services: dict[str, ServiceModel], hosts: dict[str, str], rng: random.Random
    ):
        self.kernel = kernel
        self.services = services
        self.hosts = hosts  # host name -> service name
        self.rng = rng
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        service = self.services[self.hosts[request.url.host]]
        behaviour = service.behaviour_at(self.kernel.now)
        rng = self.rng
        self.requests += 1
        timeout = (request.extensions.get("timeout") or {}).get("read") or math.inf
        sigma = max(math.log(behaviour.latency_p99_s / behaviour.latency_median_s) / 2.326, 1e-6)
        latency = behaviour.latency_median_s * math.exp(rng.gauss(0.0, sigma))
        roll = rng.random()
        hangs = roll < behaviour.hang_rate
        if hangs or latency >= timeout:
            self.kernel.sleep(timeout)
            raise httpx.ReadTimeout("timed out", request=request)
        self.kernel.sleep(latency)
        if roll < behaviour.hang_rate + behaviour.error_rate:
            return httpx.Response(503, json={"error": "service unavailable"}, request=request)
        refuse = REFUSALS.get(service.name)
        refusal = refuse(request) if refuse is not None else None
        if refusal is not None:
            return refusal
        rejected = rng.random() < behaviour.reject_rate
        body: dict[str, Any] = RESPONSES.get(service.name, lambda r, n: {})(rejected, self.requests)
        return httpx.Response(200, json=body, request=request)
