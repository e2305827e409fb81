"""External services the application calls, as an httpx transport with latency and failure models.

Each service has a healthy behaviour (log-normal latency, a small error rate) and, from the
scenario's conditions, periods of degradation: higher latency, more 5xx answers, or requests that
hang.  A request that would take longer than the client's own read timeout makes the client wait
exactly that timeout and raises ``httpx.ReadTimeout``, as a real socket would.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.kernel import Kernel
from simulator.refusals import REFUSALS


@dataclass(frozen=True)
class ServiceBehaviour:
    latency_median_s: float = 0.08
    latency_p99_s: float = 0.4
    error_rate: float = 0.001  # share of requests answered with a 5xx
    hang_rate: float = 0.0  # share of requests that never answer
    reject_rate: float = 0.0  # share answered 200 with a negative business verdict (invalid, declined)


@dataclass
class ServiceModel:
    name: str
    healthy: ServiceBehaviour
    degradations: list[tuple[float, float, ServiceBehaviour]] = field(default_factory=list)  # (start, end, b)

    def behaviour_at(self, now: float) -> ServiceBehaviour:
        for start, end, behaviour in self.degradations:
            if start <= now < end:
                return behaviour
        return self.healthy


#: service -> the JSON body of a successful (or rejected) call, as the real service would answer
RESPONSES = {
    "validation-service": lambda rejected, n: {
        "valid": not rejected,
        "errors": [{"path": "steps[0].action", "message": "unknown action"}] if rejected else [],
    },
    "payment-gateway": lambda rejected, n: {
        "id": f"ch_{n:012d}",
        "status": "declined" if rejected else "succeeded",
    },
    "email-provider": lambda rejected, n: {"id": f"msg_{n:012d}", "status": "queued"},
}


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
