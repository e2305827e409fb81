"""Scenario options redis-keys-scan introduced: ``[app]`` settings, ``[load.from_minute]``, and the
``max_p95_latency_s`` readiness figure."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from live.schedule import Timeline
from obsim.scenario import App, Load
from obsim.symptom_figures import _quantile
from simulator.kernel import Kernel
from world.load import LoadGenerator


def test_app_settings_default_to_none_and_are_strings():
    assert App().settings == {}
    assert App(settings={"SESSION_STORE": "redis"}).settings == {"SESSION_STORE": "redis"}
    with pytest.raises(ValidationError):
        App(settings={"DB_POOL_SIZE": 5})


def test_from_minute_must_name_endpoints_of_the_mix_and_leave_traffic_at_the_start():
    with pytest.raises(ValidationError, match="missing from mix"):
        Load(base_rps=1, mix={"health": 1}, from_minute={"list_sessions": 5})
    with pytest.raises(ValidationError, match="at least one endpoint"):
        Load(base_rps=1, mix={"list_sessions": 1}, from_minute={"list_sessions": 5})


def test_an_endpoint_gets_traffic_only_from_its_minute():
    kernel = Kernel(start=0.0)
    load = Load(base_rps=10, mix={"health": 1, "list_sessions": 1}, from_minute={"list_sessions": 10})
    tenant = SimpleNamespace(api_keys=("k",), open_invoice_ids=())
    generator = LoadGenerator(kernel, load, [tenant], lambda request: None, random.Random(1), end=1200.0)
    before = {generator.next_request().path for _ in range(200)}
    kernel.run(until=600.0)
    after = {generator.next_request().path for _ in range(200)}
    assert before == {"/health"}
    assert after == {"/health", "/api/v1/sessions"}


def test_live_clients_open_an_endpoint_at_its_minute_of_the_compressed_timeline():
    """Live mode has no kernel: the clients read scenario time off the run's timeline."""
    timeline = Timeline(scenario_start=1_000.0, real_start=50.0, scale=60.0)
    wall = [51.0]  # one wall second in: scenario minute 1
    load = Load(base_rps=10, mix={"health": 1, "list_sessions": 1}, from_minute={"list_sessions": 10})
    tenant = SimpleNamespace(api_keys=("k",), open_invoice_ids=())
    generator = LoadGenerator(
        None,  # type: ignore[arg-type]
        load,
        [tenant],
        lambda request: None,
        random.Random(1),
        end=math.inf,
        scenario_clock=lambda: timeline.to_scenario(wall[0]),
        scenario_start=timeline.scenario_start,
    )
    before = {generator.next_request().path for _ in range(200)}
    wall[0] = 61.0  # scenario minute 11
    after = {generator.next_request().path for _ in range(200)}
    assert before == {"/health"}
    assert after == {"/health", "/api/v1/sessions"}


def test_quantile_interpolates_inside_the_bucket_like_prometheus():
    buckets = [(0.1, 50.0), (0.2, 90.0), (0.5, 100.0), (float("inf"), 100.0)]
    assert _quantile(0.5, buckets) == pytest.approx(0.1)
    assert _quantile(0.95, buckets) == pytest.approx(0.35)
