"""The service's alerting rules, evaluated over a recording as Prometheus would have evaluated them.

The rules live where the service's team keeps them, in its repository
(``app_under_test/deploy/alerts/*.rules.yml``, Prometheus's rule-file format), so the code browser
shows the same file the Alerts view evaluates.  Each group is evaluated every ``interval`` (epoch
aligned) from the start of the recording with the PromQL engine of the metrics explorer, and each
alert instance (one per label set of the expression's result) follows Prometheus's state machine
(``rules/alerting.go``):

- an instance appears *pending* at the first evaluation that returns its label set (``active_at``);
- it turns *firing* at the first evaluation at least ``for`` after ``active_at`` at which it is
  still returned (with no ``for``, at ``active_at`` itself);
- at the first evaluation that does not return it, a pending instance is dropped and a firing one
  is *resolved*; with ``keep_firing_for`` a firing instance stays firing until it has been missing
  for that long.  A label set returned again later starts a new instance.

Nothing is known before the recording starts, so every instance starts inactive there: a condition
already true at the start fires ``for`` after it.  A recording never changes, so the whole history
is evaluated once per dataset and kept (:class:`AlertCache`); a view cuts out its range.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from observability_ui.query import promql
from observability_ui.query.promql_model import METRIC_NAME, label_key

RULES_DIR = Path(__file__).resolve().parents[1] / "app_under_test" / "deploy" / "alerts"
DEFAULT_INTERVAL_S = 60.0  # Prometheus's global evaluation_interval when a group sets none
SEVERITY = "severity"
PAGE = "page"

_GROUP_KEYS = {"name", "interval", "rules"}
_RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_ALERT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TEMPLATE = re.compile(r"{{\s*(.*?)\s*}}")
_TEMPLATE_VALUE = re.compile(r"^\$(value|labels\.([a-zA-Z_][a-zA-Z0-9_]*))((?:\s*\|\s*\w+)*)$")


class RuleError(ValueError):
    """A rule file that cannot be loaded; the message names the file, group and rule."""


def _duration(text: object, where: str) -> float:
    """Seconds of a Prometheus duration (``30s``, ``1h30m``); units in decreasing order, as promtool
    requires."""
    if not isinstance(text, str) or not text:
        raise RuleError(f"{where}: a duration such as 5m is required, got {text!r}")
    parts = _DURATION_PART.findall(text)
    units = [unit for _, unit in parts]
    if "".join(number + unit for number, unit in parts) != text or units != sorted(
        units, key=lambda unit: -_DURATION_UNITS[unit]
    ):
        raise RuleError(f"{where}: {text!r} is not a Prometheus duration such as 30s, 5m or 1h30m")
    return float(sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts))


def format_duration(seconds: float) -> str:
    """Seconds as Prometheus writes a duration: ``2m``, ``1h30m``, ``45s``; ``0s`` for none."""
    parts, rest = [], round(seconds * 1000)
    for unit in ("y", "w", "d", "h", "m", "s", "ms"):
        size = round(_DURATION_UNITS[unit] * 1000)
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


# -- templates --------------------------------------------------------------------------------------
# Annotations use Prometheus's Go templates; the rules need, and this supports, ``{{ $value }}`` and
# ``{{ $labels.name }}`` with the humanize functions of Prometheus's template reference.


def humanize(value: float) -> str:
    """Prometheus's ``humanize``: SI prefixes, four significant digits (1234 -> 1.234k)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:.4g}"
    prefixes = ["", "k", "M", "G", "T", "P", "E"] if abs(value) >= 1 else ["", "m", "u", "n", "p", "f", "a"]
    factor = 1000.0 if abs(value) >= 1 else 1 / 1000.0
    index = 0
    while index < len(prefixes) - 1 and (abs(value) >= 1000 if factor > 1 else abs(value) < 1):
        value /= factor
        index += 1
    return f"{value:.4g}{prefixes[index]}"


def humanize_duration(seconds: float) -> str:
    """Prometheus's ``humanizeDuration``: ``1m 30s``, ``2.5s``, ``250ms``."""
    if not math.isfinite(seconds):
        return f"{seconds:.4g}"
    if abs(seconds) >= 1:
        sign = "-" if seconds < 0 else ""
        whole = int(abs(seconds))
        days, hours, minutes, secs = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {secs}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {secs}s"
        if minutes:
            return f"{sign}{minutes}m {secs}s"
        return f"{sign}{abs(seconds):.4g}s"
    if seconds == 0:
        return "0s"
    return f"{seconds * 1000:.4g}ms"


_FILTERS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": lambda value: f"{value * 100:.4g}%",
    "humanizeDuration": humanize_duration,
}


def _check_template(text: str, where: str) -> None:
    for match in _TEMPLATE.finditer(text):
        parsed = _TEMPLATE_VALUE.match(match[1])
        filters = [name.strip() for name in parsed[3].split("|")[1:]] if parsed else []
        if parsed is None or any(name not in _FILTERS for name in filters):
            raise RuleError(
                f"{where}: template {match[0]!r} is not supported; use {{{{ $value }}}} or "
                f"{{{{ $labels.name }}}}, optionally piped to {', '.join(_FILTERS)}"
            )
        if filters and parsed[2]:
            raise RuleError(f"{where}: {match[0]!r}: the humanize functions take $value, not a label")


def expand(text: str, labels: dict[str, str], value: float) -> str:
    """A template filled in with an alert instance's labels and value (a missing label is empty)."""

    def one(match: re.Match[str]) -> str:
        parsed = _TEMPLATE_VALUE.match(match[1])
        assert parsed is not None  # checked when the rule was loaded
        if parsed[2]:
            return labels.get(parsed[2], "")
        filters = [name.strip() for name in parsed[3].split("|")[1:]]
        return _FILTERS[filters[-1]](value) if filters else f"{value:g}"

    return _TEMPLATE.sub(one, text)


# -- rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One alerting rule of a group, as written in its rule file."""

    group: str
    interval: float
    name: str
    expr: str
    source: str  # the rule file, relative to the service's repository
    line: int  # of the rule's ``alert:`` in that file
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return self.labels.get(SEVERITY, "")


def _strings(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(text, str) for key, text in value.items()
    ):
        raise RuleError(f"{where}: expected a mapping of names to strings")
    return dict(value)


def _rule(raw: object, group: str, interval: float, where: str, file_text: str, source: str) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: a rule is a mapping")
    if "record" in raw:
        raise RuleError(f"{where}: recording rules are not evaluated here; only alerting rules")
    name = raw.get("alert")
    if not isinstance(name, str) or not _ALERT_NAME.match(name):
        raise RuleError(f"{where}: 'alert' must be a metric-style name, got {name!r}")
    where = f"{where} ({name})"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(unknown)}")
    expr = raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        raise RuleError(f"{where}: 'expr' is required")
    try:
        promql.parse(expr)
    except promql.QueryError as error:
        raise RuleError(f"{where}: expr: {error.message}") from None
    labels = _strings(raw.get("labels"), f"{where}: labels")
    annotations = _strings(raw.get("annotations"), f"{where}: annotations")
    for key, text in labels.items():
        _check_template(text, f"{where}: label {key}")
        if "$value" in text:  # it would make a new instance at every change of the value
            raise RuleError(f"{where}: label {key}: labels may use $labels, not $value")
    for key, text in annotations.items():
        _check_template(text, f"{where}: annotation {key}")
    declared = re.search(
        rf"^[ \t]*(?:-[ \t]*)?alert:[ \t]*['\"]?{name}['\"]?[ \t]*$", file_text, re.MULTILINE
    )
    return Rule(
        group=group,
        interval=interval,
        name=name,
        expr=expr.strip(),
        source=source,
        line=file_text.count("\n", 0, declared.start()) + 1 if declared else 1,
        for_s=_duration(raw["for"], f"{where}: for") if "for" in raw else 0.0,
        keep_firing_for_s=(
            _duration(raw["keep_firing_for"], f"{where}: keep_firing_for")
            if "keep_firing_for" in raw
            else 0.0
        ),
        labels=labels,
        annotations=annotations,
    )


def parse_rules(text: str, source: str) -> list[Rule]:
    """The alerting rules of one rule file's text (``source``: its path, for messages and links), or
    a :class:`RuleError` saying what is wrong."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RuleError(f"{source}: not YAML: {error}") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"groups"}
        or not isinstance(document["groups"], list)
    ):
        raise RuleError(f"{source}: a rule file is a mapping with one key, groups, holding a list")
    rules: list[Rule] = []
    names: set[str] = set()
    for index, group in enumerate(document["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise RuleError(f"{source}: group {index + 1} needs a name")
        where = f"{source}: group {group['name']}"
        if group["name"] in names:
            raise RuleError(f"{where}: a group of that name already exists")
        names.add(group["name"])
        unknown = sorted(set(group) - _GROUP_KEYS)
        if unknown:
            raise RuleError(f"{where}: unknown field(s) {', '.join(unknown)}")
        interval = (
            _duration(group["interval"], f"{where}: interval") if "interval" in group else DEFAULT_INTERVAL_S
        )
        if not isinstance(group.get("rules"), list):
            raise RuleError(f"{where}: 'rules' must be a list")
        rules += [
            _rule(raw, group["name"], interval, f"{where}, rule {number}", text, source)
            for number, raw in enumerate(group["rules"], 1)
        ]
    return rules


def load_rules(directory: Path = RULES_DIR) -> list[Rule]:
    """Every rule of every ``*.rules.yml`` file in ``directory`` (``<repository>/deploy/alerts``),
    files in name order."""
    return [
        rule
        for path in sorted(directory.glob("*.rules.yml"))
        for rule in parse_rules(
            path.read_text(encoding="utf-8"), path.relative_to(directory.parents[1]).as_posix()
        )
    ]


# -- evaluation -------------------------------------------------------------------------------------


@dataclass
class Instance:
    """One alert instance's life: pending from ``active_at``, firing from ``fired_at`` (None if it never
    fired), over at ``ended_at``, the evaluation that no longer returned it (resolved, for one that
    fired; None while still active at the end of the recording).  ``value`` is the expression's value
    when it fired (when it became pending, for one that never fired): what the page said."""

    labels: dict[str, str]
    active_at: float
    value: float
    fired_at: float | None = None
    ended_at: float | None = None
    missing_since: float | None = None  # keep_firing_for: the first evaluation without it

    def state_at(self, at: float) -> str:
        """``pending``, ``firing`` or ``inactive`` at the instant ``at``."""
        if at < self.active_at or (self.ended_at is not None and at >= self.ended_at):
            return "inactive"
        return "firing" if self.fired_at is not None and at >= self.fired_at else "pending"

    def overlaps(self, start: float, end: float) -> bool:
        return self.active_at <= end and (self.ended_at is None or self.ended_at >= start)


@dataclass(frozen=True)
class RuleHistory:
    """A rule's instances over the whole recording, oldest first, and the times it was evaluated."""

    rule: Rule
    instances: list[Instance]
    evaluations: list[float]

    def state_at(self, at: float) -> str:
        """The rule's state as Prometheus's rule list shows it: firing if an instance fires."""
        states = {instance.state_at(at) for instance in self.instances}
        return next((state for state in ("firing", "pending") if state in states), "inactive")


def evaluation_times(window: tuple[float, float], interval: float) -> list[float]:
    """The group's evaluations inside the window: multiples of its interval, as Prometheus aligns them."""
    first = math.ceil(window[0] / interval) * interval
    return [first + index * interval for index in range(int((window[1] - first) // interval) + 1)]


def alert_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str]:
    """An instance's labels: the result's (without ``__name__``), the rule's (templated), alertname."""
    result = {name: text for name, text in labels.items() if name != METRIC_NAME}
    result.update({name: expand(text, labels, math.nan) for name, text in rule.labels.items()})
    result["alertname"] = rule.name
    return result


def evaluate(rule: Rule, store: promql.MetricStore, window: tuple[float, float]) -> RuleHistory:
    """Run ``rule`` at every evaluation of its group over ``window`` (see the module's docstring)."""
    times = evaluation_times(window, rule.interval)
    if not times:
        return RuleHistory(rule, [], [])
    # A range query is the instant query at each step: one call answers every evaluation.
    by_time: dict[float, list[tuple[dict[str, str], float]]] = {}
    for series in promql.query_range(store, rule.expr, times[0], times[-1], rule.interval):
        labels = alert_labels(rule, series.labels)
        for at, value in series.points:
            by_time.setdefault(at, []).append((labels, value))
    active: dict[Hashable, Instance] = {}
    finished: list[Instance] = []
    for at in times:
        returned = {}
        for labels, value in by_time.get(at, []):
            key = label_key(labels)
            if key in returned:
                raise promql.QueryError(
                    f"{rule.name}: vector contains metrics with the same labelset after applying alert labels"
                )
            returned[key] = (labels, value)
        for key, (labels, value) in returned.items():
            instance = active.get(key)
            if instance is None:
                active[key] = Instance(labels, active_at=at, value=value)
            else:
                instance.missing_since = None
                if instance.fired_at is None:
                    instance.value = value
        for key, instance in list(active.items()):
            if key not in returned:
                if instance.fired_at is not None and rule.keep_firing_for_s > 0:
                    instance.missing_since = (
                        instance.missing_since if instance.missing_since is not None else at
                    )
                    if at - instance.missing_since < rule.keep_firing_for_s:
                        continue
                instance.ended_at = at
                finished.append(active.pop(key))
            elif instance.fired_at is None and at - instance.active_at >= rule.for_s:
                instance.fired_at = at
    instances = sorted(
        [*finished, *active.values()], key=lambda item: (item.active_at, label_key(item.labels))
    )
    return RuleHistory(rule, instances, times)


class AlertCache:
    """Histories per dataset, for the last few datasets asked about: a dataset never changes, so
    its alerts are evaluated once; a live recording is keyed by the last evaluation it reaches, so
    it is evaluated again once per evaluation interval, not per request."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, list[RuleHistory]] = OrderedDict()
        self._lock = threading.Lock()

    def histories(self, key: Hashable, compute: Callable[[], list[RuleHistory]]) -> list[RuleHistory]:
        """The histories for ``key``, computed (under the lock: one evaluation at a time) when absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            result = compute()
            self._entries[key] = result
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
            return result


def describe(rule: Rule, instance: Instance) -> dict[str, str]:
    """An instance's annotations, filled in with its labels and value."""
    return {name: expand(text, instance.labels, instance.value) for name, text in rule.annotations.items()}
