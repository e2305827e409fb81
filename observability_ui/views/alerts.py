"""Alerts: the service's alerting rules, their state at the end of the range and every state change
within it, as Prometheus's alert list and Grafana's alert timeline show them (``observability_ui.alert_rules``
evaluates the rules over the whole recording; this view cuts out the range)."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, current_app, url_for

from observability_ui import alert_rules, charts
from observability_ui.query.promql_model import format_labels
from observability_ui.request_context import dataset, dataset_dir, time_range
from observability_ui.views.code import code_link
from observability_ui.views.metrics_common import store
from observability_ui.views.page import page_range, range_json, render, status
from obsim.timerange import TimeRange, iso

bp = Blueprint("alerts", __name__)

ALERT_CACHE = "obsim_alert_cache"  # app.extensions key: evaluated histories per dataset
RULES_CONFIG = "OBSIM_ALERT_RULES"  # app.config key: the rule files' directory, the service's by default
EXPLORE_MARGIN_S = 300.0  # context shown either side of an alert's interval in the metrics explorer
STATE_ORDER = {"firing": 0, "pending": 1, "inactive": 2}


def histories() -> list[alert_rules.RuleHistory]:
    """Every rule's history over the recording, evaluated once per dataset (per evaluation reached,
    for a recording that is still growing)."""
    rules = alert_rules.load_rules(current_app.config.get(RULES_CONFIG, alert_rules.RULES_DIR))
    window = dataset().window()
    step = min((rule.interval for rule in rules), default=alert_rules.DEFAULT_INTERVAL_S)
    # The rules as loaded are part of the key: an edited rule file is evaluated afresh.
    key = (dataset_dir(), window[0], math.floor(window[1] / step), repr(rules))
    cache = current_app.extensions.setdefault(ALERT_CACHE, alert_rules.AlertCache())
    return cache.histories(key, lambda: [alert_rules.evaluate(rule, store(), window) for rule in rules])


def _explore(rule: alert_rules.Rule, start: float, end: float) -> str:
    """The metrics explorer over an alert's interval (with some context), graphing its expression."""
    return url_for(
        "metrics.page",
        query=rule.expr,
        **{"from": iso(start - EXPLORE_MARGIN_S), "to": iso(end + EXPLORE_MARGIN_S)},
    )


def _instance(
    rule: alert_rules.Rule, instance: alert_rules.Instance, tr: TimeRange, window_end: float
) -> dict[str, Any]:
    return {
        "labels": instance.labels,
        "state": instance.state_at(tr.end),
        "active_at": instance.active_at,
        "fired_at": instance.fired_at,
        "ended_at": instance.ended_at,
        "value": instance.value,
        "annotations": alert_rules.describe(rule, instance),
        "explore": _explore(
            rule, instance.active_at, instance.ended_at if instance.ended_at is not None else window_end
        ),
    }


def _events(rule: alert_rules.Rule, instance: alert_rules.Instance, tr: TimeRange) -> list[dict[str, Any]]:
    """The instance's state changes inside the range: pending, firing, then resolved (or back to
    inactive, for one that never fired)."""
    ended = "resolved" if instance.fired_at is not None else "inactive"
    changes = [("pending", instance.active_at), ("firing", instance.fired_at), (ended, instance.ended_at)]
    return [
        {
            "ts": ts,
            "alertname": rule.name,
            "labels": instance.labels,
            "state": state,
            "severity": rule.severity,
        }
        for state, ts in changes
        if ts is not None and tr.start <= ts <= tr.end
    ]


def alert_list(tr: TimeRange) -> dict[str, Any]:
    """What the page and ``/api/alerts`` show: each rule with its state at the range's end and its
    instances overlapping the range; every state change within the range, oldest first."""
    window_end = dataset().window()[1]
    rules, events = [], []
    for history in histories():
        rule = history.rule
        shown = [instance for instance in history.instances if instance.overlaps(tr.start, tr.end)]
        rules.append(
            {
                "group": rule.group,
                "name": rule.name,
                "expr": rule.expr,
                "interval": rule.interval,
                "for": rule.for_s,
                "keep_firing_for": rule.keep_firing_for_s,
                "labels": rule.labels,
                "annotations": rule.annotations,
                "source": rule.source,
                "code_url": code_link(rule.source, rule.line),
                "state": history.state_at(tr.end),
                "instances": [_instance(rule, instance, tr, window_end) for instance in shown],
            }
        )
        events += [event for instance in shown for event in _events(rule, instance, tr)]
    events.sort(key=lambda event: (event["ts"], event["alertname"]))
    return {"range": range_json(tr), "rules": rules, "events": events}


def _timeline(listing: dict[str, Any], tr: TimeRange) -> str:
    """Pending and firing periods of every instance in the range, one row per instance."""
    pending: list[tuple[str, float, float]] = []
    firing: list[tuple[str, float, float]] = []
    rows: list[str] = []
    for rule in listing["rules"]:
        for instance in rule["instances"]:
            shown = {
                name: value
                for name, value in instance["labels"].items()
                if name not in {"alertname", "severity"}
            }
            row = rule["name"] + (format_labels(shown) if shown else "")
            end = min(instance["ended_at"] if instance["ended_at"] is not None else tr.end, tr.end)
            fired = instance["fired_at"]
            rows.append(row)
            pending.append(
                (row, max(instance["active_at"], tr.start), end if fired is None else min(fired, end))
            )
            if fired is not None:
                firing.append((row, max(fired, tr.start), end))
    traces = [
        charts.spans(state, [(row, start, end) for row, start, end in periods if start < end], line=style)
        for state, periods, style in (
            ("pending", pending, {"width": 10, "color": "#e0a030"}),
            ("firing", firing, {"width": 10, "color": "#e05050"}),
        )
    ]
    shown = [trace for trace in traces if trace["x"]]
    if not shown:
        return charts.figure([], x_range=(tr.start, tr.end))
    return charts.figure(
        shown,
        x_range=(tr.start, tr.end),
        yaxis={"automargin": True, "type": "category", "categoryorder": "array", "categoryarray": rows[::-1]},
        height=max(160, 60 + 26 * len(set(rows))),
    )


@bp.get("/alerts")
def page() -> tuple[str, int]:
    tr, range_error = page_range()
    listing = alert_list(tr)
    listing["rules"].sort(key=lambda rule: STATE_ORDER[rule["state"]])  # stable: file order within a state
    body = render(
        "alerts.html",
        tr,
        range_error,
        page_title="Alerts",
        listing=listing,
        timeline=_timeline(listing, tr),
        duration=alert_rules.format_duration,
    )
    return body, status(range_error)


@bp.get("/api/alerts")
def api_alerts() -> dict[str, Any]:
    return alert_list(time_range())
