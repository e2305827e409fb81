"""The external services the application calls, as models of their behaviour over time.

Engine-neutral: the virtual-time engine's httpx transport (``simulator.external_services``) and live
mode's fake services (``live.fake_services``) answer from the same models, so a scenario's
degradations mean the same in both.  Each service has a healthy behaviour (log-normal latency, a
small error rate) and, from the scenario's conditions, periods of degradation: higher latency, more
5xx answers, or requests that hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from obsim.scenario import Scenario
from obsim.scenario import ServiceBehaviour as BehaviourSpec


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


_HEALTHY: dict[str, ServiceBehaviour] = {
    "validation-service": ServiceBehaviour(0.06, 0.35, error_rate=0.0005, reject_rate=0.03),
    "payment-gateway": ServiceBehaviour(0.25, 1.2, error_rate=0.002, reject_rate=0.05),
    "email-provider": ServiceBehaviour(0.12, 0.6, error_rate=0.001),
}


def _behaviour(spec: BehaviourSpec) -> ServiceBehaviour:
    return ServiceBehaviour(
        latency_median_s=spec.latency_median_ms / 1000,
        latency_p99_s=spec.latency_p99_ms / 1000,
        error_rate=spec.error_rate,
        hang_rate=spec.hang_rate,
        reject_rate=spec.reject_rate,
    )


def service_models(scenario: Scenario, start: float) -> dict[str, ServiceModel]:
    """Every external service's behaviour: healthy, plus the scenario's degradations placed on the
    timeline that starts at ``start`` (shared by the simulated run and live mode's fake services)."""
    models = {name: ServiceModel(name, healthy) for name, healthy in _HEALTHY.items()}
    for degradation in scenario.degradations:
        end = start + degradation.end_minute * 60 if degradation.end_minute is not None else float("inf")
        models[degradation.service].degradations.append(
            (start + degradation.start_minute * 60, end, _behaviour(degradation.behaviour))
        )
    return models
