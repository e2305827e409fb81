"""Scenarios: each incident as a schema-checked data file.

``scenarios/<id>/scenario.toml`` holds what the candidate is told, the load and conditions the
simulator runs, the time window, the hint ladder and the ground truth; ``scenarios/<id>/fix.patch``
holds the reference fix.  A file is loaded whole or not at all: any error names the file and the
field, and nothing is half-loaded.
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from obsim import difficulty as difficulty_rule
from obsim.taxonomy import MECHANISMS

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO_FILE = "scenario.toml"
FIX_PATCH = "fix.patch"
PREVIOUS_RELEASE_PATCH = "previous_release.patch"
# A Python file of the service, as the code browser names it: relative to its repository.
SERVICE_FILE = r"^platform_api/.+\.py$"
#: The version the service reports when no deploy happens in the window.
SERVICE_VERSION = "4.18.2"
DEFAULT_SCENARIO = "cron-storm"


class ScenarioError(Exception):
    """A scenario file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
            raise ValueError("must be a UTC timestamp ending in Z, e.g. 2026-03-10T09:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).total_seconds() > 24 * 3600:
            raise ValueError("a window longer than 24 hours is not supported")
        return self

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


Endpoint = Literal[
    "health",
    "list_workflows",
    "list_workflows_with_last_run",
    "get_workflow",
    "create_workflow",
    "start_run",
    "list_runs",
    "list_users",
    "get_user",
    "create_user",
    "update_user",
    "invite_user",
    "import_data",
    "list_records",
    "export_data",
    "report_summary",
    "usage_report",
    "activity_report",
    "pay_invoice",
    "checkout",
    "list_notifications",
    "list_sessions",
]


class Load(_Strict):
    base_rps: float = Field(gt=0, le=200, description="mean requests per second over a day")
    diurnal_amplitude: float = Field(0.3, ge=0, lt=1, description="relative swing around base_rps")
    peak_hour_utc: float = Field(15.0, ge=0, lt=24)
    mix: dict[Endpoint, float] = Field(min_length=1, description="relative weight of each endpoint")
    from_minute: dict[Endpoint, float] = Field(
        default_factory=dict,
        description="window minute from which an endpoint of the mix gets traffic (a client release "
        "that starts calling it); before it, requests go to the other endpoints",
    )

    @field_validator("mix")
    @classmethod
    def _positive(cls, mix: dict[str, float]) -> dict[str, float]:
        bad = [name for name, weight in mix.items() if weight <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {', '.join(bad)}")
        return mix

    @model_validator(mode="after")
    def _starts_in_mix(self) -> Load:
        unknown = sorted(set(self.from_minute) - set(self.mix))
        if unknown:
            raise ValueError(f"from_minute names endpoints missing from mix: {', '.join(unknown)}")
        if any(minute < 0 for minute in self.from_minute.values()):
            raise ValueError("from_minute values must be >= 0")
        if all(self.from_minute.get(name, 0) > 0 for name in self.mix):
            raise ValueError("from_minute must leave at least one endpoint with traffic from minute 0")
        return self


class Data(_Strict):
    tenants: int = Field(ge=1, le=1000)
    users_per_tenant: int = Field(ge=1, le=200)
    workflows_per_tenant: int = Field(ge=1, le=200)
    records_per_tenant: int = Field(ge=0, le=50_000)
    volume_scale: float = Field(
        1.0,
        ge=1,
        le=1000,
        description="production rows each seeded row stands for: scales the database's work per row",
    )


class App(_Strict):
    """How the service under test is configured for the run: its environment variables."""

    settings: dict[str, str] = Field(
        default_factory=dict,
        description="environment of the service (lib/config.py: the field's name in upper case), "
        'e.g. SESSION_STORE = "redis"',
    )


class Exporters(_Strict):
    """Collectors of the exporters beside the service that a scenario turns on.  Off by default: each
    adds series to the scrape, and datasets that do not need them keep their telemetry unchanged."""

    postgres_locks: bool = Field(
        False, description="postgres_exporter's locks collector: pg_locks_count{datname,mode}"
    )


class ServiceBehaviour(_Strict):
    latency_median_ms: float = Field(gt=0)
    latency_p99_ms: float = Field(gt=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    hang_rate: float = Field(0.0, ge=0, le=1)
    reject_rate: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ServiceBehaviour:
        if self.latency_p99_ms < self.latency_median_ms:
            raise ValueError("latency_p99_ms must be >= latency_median_ms")
        if self.error_rate + self.hang_rate > 1:
            raise ValueError("error_rate + hang_rate must not exceed 1")
        return self


ExternalService = Literal["validation-service", "payment-gateway", "email-provider"]


class Degradation(_Strict):
    """An external service behaving differently from ``start_minute`` (window-relative) on."""

    service: ExternalService
    start_minute: float = Field(ge=0)
    end_minute: float | None = None
    behaviour: ServiceBehaviour

    @model_validator(mode="after")
    def _ordered(self) -> Degradation:
        if self.end_minute is not None and self.end_minute <= self.start_minute:
            raise ValueError("end_minute must be after start_minute")
        return self


class Deploy(_Strict):
    """A release rolled out during the window.

    The run starts on the previous release: the checkout's service (``app_under_test/``) with
    ``previous_release`` (a unified diff in the scenario's directory) applied.  At ``at_minute`` the
    service is redeployed onto the checkout's code, the code the candidate reads (or the patched
    code, when a fix is being verified).  Each release reports its version in its telemetry.
    """

    at_minute: float = Field(gt=0)
    from_version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
    to_version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
    previous_release: str = Field(PREVIOUS_RELEASE_PATCH, pattern=r"^[^/\\]+\.patch$")

    @model_validator(mode="after")
    def _new_version(self) -> Deploy:
        if self.from_version == self.to_version:
            raise ValueError("to_version must differ from from_version")
        return self


class Readiness(_Strict):
    """A figure the generated dataset must show before it is served (see obsim.symptom_figures)."""

    figure: Literal[
        "min_hourly_latency_ratio",
        "max_hourly_latency_ratio",
        "peak_pool_used_ratio",
        "max_server_error_ratio",
        "peak_idle_in_transaction",
        "max_p95_latency_s",
        "peak_request_queue_length",
        "worker_oom_kills",
        "peak_email_outbox_age_seconds",
        "peak_db_statements_per_request",
    ]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Readiness:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class Hint(_Strict):
    after_minutes: float = Field(ge=0)
    text: str = Field(min_length=1)


class CodeLocation(_Strict):
    file: str = Field(pattern=SERVICE_FILE)  # as the code browser names it
    lines: tuple[int, int]
    function: str
    description: str

    @field_validator("lines")
    @classmethod
    def _range(cls, lines: tuple[int, int]) -> tuple[int, int]:
        if lines[0] < 1 or lines[1] < lines[0]:
            raise ValueError("lines must be [first, last] with 1 <= first <= last")
        return lines


View = Literal["overview", "metrics", "logs", "traces", "database", "jobs", "alerts", "code"]


class Check(_Strict):
    """A figure computed from the dataset that must fall within bounds in every one of its windows.

    This is what makes a claim such as "the pool is full at 10:00" testable (``tests/test_evidence.py``
    runs every check on the scenario's dataset, and on the run with ``fix.patch`` applied).  ``kind``
    says how ``query`` is read:

    - ``promql``: a PromQL expression (the metrics view's dialect), evaluated over the window at the
      15 s scrape resolution; ``reduce`` turns every point of every returned series into one figure;
    - ``logql``: a LogQL query (the logs view's dialect); the figure is the number of matching records
      in the window;
    - ``sql``: one SELECT over the dataset's tables and views (``docs/dataset.md``: ``spans``,
      ``db_sessions``, ``job_runs``, ``jobs``, ``logs``, ...) returning one number, with the window bound
      to the named parameters ``:start`` and ``:end`` (epoch seconds).

    No data (an empty result, a NULL, NaN) never satisfies a check.
    """

    kind: Literal["promql", "logql", "sql"]
    query: str = Field(min_length=1)
    reduce: Literal["max", "min", "mean"] | None = Field(
        None, description="promql only (default max): how the points of the window become one figure"
    )
    at_least: float | None = Field(None, description="the figure must be at least this (in every window)")
    at_most: float | None = Field(None, description="the figure must be at most this (in every window)")
    windows: tuple[Window, ...] = Field(
        (),
        description="where the check applies when not where the signal is visible, e.g. a quiet "
        "stretch for 'low otherwise'; empty: the item's windows",
    )
    fixed_removes: bool = Field(
        False,
        description="the symptom goes away with the reference fix: the check must fail on the fixed run",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_reduce(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("kind") == "promql" and raw.get("reduce") is None:
            return {**raw, "reduce": "max"}
        return raw

    @model_validator(mode="after")
    def _bounded(self) -> Check:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least, at_most or both")
        if self.kind != "promql" and self.reduce is not None:
            raise ValueError("reduce applies to promql checks only")
        return self

    def holds(self, figure: float | None) -> bool:
        """Whether ``figure`` (None when there was no data) is within the bounds."""
        if figure is None or math.isnan(figure):
            return False
        return (self.at_least is None or figure >= self.at_least) and (
            self.at_most is None or figure <= self.at_most
        )


class Sighting(_Strict):
    """A way to have a signal on screen: a view, and optionally what its query must mention.

    A recorded page view or API call of ``view`` shows the signal when its time range (or the instant
    in its ``at`` argument) overlaps one of the item's windows and, when ``terms`` are given, its path
    or query arguments contain one of them (any case): a metric name, a log text, a service or route.
    Leave ``terms`` empty for views that show the signal whatever is asked (the overview's panels).
    """

    view: View
    terms: tuple[str, ...] = ()


class Evidence(_Strict):
    """A signal in the data that shows part of the ground truth, where it shows and how to check it.

    ``view`` is the view a candidate cites for it (automatic scoring compares cited views);
    ``windows`` are the UTC stretches where the signal is visible (every window of an hourly fault);
    ``checks`` prove the ``signal`` text against the dataset; ``seen`` lists the views (and query
    terms) that have it on screen, for the interviewer's "evidence actually looked at".
    """

    view: View
    signal: str
    description: str
    windows: tuple[Window, ...] = Field(min_length=1)
    checks: tuple[Check, ...] = Field(min_length=1)
    seen: tuple[Sighting, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Evidence:
        if self.view not in {sighting.view for sighting in self.seen}:
            raise ValueError(f"seen must include the item's own view {self.view!r}")
        return self

    @property
    def fixed_removes(self) -> bool:
        """Whether the item is a symptom the reference fix removes (one of its checks says so)."""
        return any(check.fixed_removes for check in self.checks)


Terms = tuple[tuple[str, ...], ...]
"""Key terms for automatic scoring: a text matches when it contains (in any case) at least one term of
every group, e.g. ``[["crontrigger", "cron"], ["minute=0", "same minute", "top of the hour"]]``."""


class Statement(_Strict):
    """One step, fix or mitigation of a ground truth, with the terms that recognise it in free text."""

    text: str = Field(min_length=1)
    terms: Terms = Field(min_length=1)
    root: str | None = Field(
        None, description="for an incident with several roots: which root this fix addresses"
    )


class Mechanism(_Strict):
    """How the fault works, for the interviewer and for recognising it in a candidate's own words.

    ``kind`` classifies it in the taxonomy (``obsim/taxonomy.py``), which only the interviewer's side
    shows: the candidate writes the mechanism in prose rather than picking it from a list, so the
    automatic score finds it with ``terms`` (see :data:`Terms`).  ``partial`` recognises a neighbouring,
    half-right account, usually the symptom one level up ("the pool is exhausted" without the leak).
    """

    kind: str
    text: str = Field(min_length=1)
    terms: Terms = Field(min_length=1)
    partial: Terms = ()

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in MECHANISMS:
            raise ValueError(f"kind must be one of {', '.join(MECHANISMS)}")
        return kind


class Decoy(_Strict):
    """Something real but harmless that looks like a cause.

    ``terms`` recognise the decoy named as the cause in a submission and ``files`` its code (both cost
    points when blamed).  ``checks`` prove it is really in the data (over ``windows``, or each check's
    own); ``seen`` lists the views and query terms whose viewing counts as time spent on it, as does
    opening one of ``files`` in the code view.  Empty ``windows`` mean at any time of the recording.
    """

    description: str
    why_not: str
    terms: Terms = Field(min_length=1)
    files: tuple[str, ...] = ()
    windows: tuple[Window, ...] = ()
    checks: tuple[Check, ...] = ()
    seen: tuple[Sighting, ...] = ()

    @model_validator(mode="after")
    def _check_windows(self) -> Decoy:
        if not self.windows and any(not check.windows for check in self.checks):
            raise ValueError("a check without windows of its own needs the decoy's windows")
        return self


class RedFlag(_Strict):
    """A wrong conclusion the interview guide lists as a red flag ("the database is slow" when its
    CPU sits at 5 %): not something in the data, but a cause a candidate may name.  ``terms``
    recognise it named as the cause; blaming it costs points as blaming a decoy does."""

    description: str
    why_not: str
    terms: Terms = Field(min_length=1)


class Timing(_Strict):
    """When the fault shows: once from ``onset`` (UTC), every hour at ``at_minute``, or from
    ``onset`` again every few minutes (``minutes``: a schedule such as every 15 minutes)."""

    repeats: Literal["none", "minutes", "hourly", "daily"]
    onset: datetime | None = None
    at_minute: int | None = Field(default=None, ge=0, le=59)

    @model_validator(mode="after")
    def _complete(self) -> Timing:
        if self.repeats == "hourly" and self.at_minute is None:
            raise ValueError("an hourly fault needs at_minute")
        if self.repeats != "hourly" and self.onset is None:
            raise ValueError("a fault that does not repeat hourly needs onset")
        if self.onset is not None and self.onset.tzinfo is None:
            raise ValueError("onset must be UTC, e.g. 2026-03-10T14:20:00Z")
        return self


class GroundTruth(_Strict):
    """What really happened.  An incident with two independent roots lists a mechanism and a timing
    per root (``mechanism = [..]``, ``timing = [..]``); a submission is scored by its best match."""

    summary: str
    mechanism: Mechanism | tuple[Mechanism, ...]
    timing: Timing | tuple[Timing, ...]
    root_causes: tuple[CodeLocation, ...] = Field(min_length=1)
    causal_chain: tuple[Statement, ...] = Field(min_length=2)
    evidence: tuple[Evidence, ...] = Field(min_length=1)
    decoys: tuple[Decoy, ...] = ()
    red_flags: tuple[RedFlag, ...] = ()
    mitigations: tuple[Statement, ...] = ()
    fixes: tuple[Statement, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _fix_roots(self) -> GroundTruth:
        if len({fix.root is None for fix in self.fixes}) > 1:
            raise ValueError("fixes: give every fix a root, or none")
        return self

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return (self.mechanism,) if isinstance(self.mechanism, Mechanism) else self.mechanism

    @property
    def timings(self) -> tuple[Timing, ...]:
        return (self.timing,) if isinstance(self.timing, Timing) else self.timing


class Rubric(_Strict):
    pass_: tuple[str, ...] = Field(alias="pass", min_length=1)
    strong: tuple[str, ...] = Field(min_length=1)
    exceptional: tuple[str, ...] = Field(min_length=1)


class PathSignal(_Strict):
    """One signal of a shortest path: an evidence item of the ground truth, seen in one view.

    ``evidence`` counts the scenario's ``[[ground_truth.evidence]]`` items from 1, in file order;
    ``view`` must be one of that item's ``seen`` views, and ``query`` (what the candidate asks that
    view) must contain one of the sighting's terms when it has any, so the step really puts the
    signal on screen.  Code is not a signal here: it is counted as files read (``ShortestPath.code``).
    """

    evidence: int = Field(ge=1)
    view: View
    query: str = ""

    @field_validator("view")
    @classmethod
    def _not_code(cls, view: str) -> str:
        if view == "code":
            raise ValueError("code is not a signal: list the files read in shortest_path.code")
        return view


class PathDecoy(_Strict):
    """A decoy that lines up in time with the path's signals, and the view where it competes.

    ``decoy`` counts the ``[[ground_truth.decoys]]`` items from 1; the decoy needs windows of its own
    that overlap a window of one of the path's signals (a decoy present all recording lines up with
    nothing in particular), and ``competes_with`` is one of its ``seen`` views, or ``code`` when it
    has ``files``.
    """

    decoy: int = Field(ge=1)
    competes_with: View


class ShortestPath(_Strict):
    """The shortest path a strong candidate takes to a confirmed diagnosis; the difficulty follows.

    ``landing_pinpoints``: the landing dashboard (the overview at its default range), with no query,
    shows the component where the fault lives moving with the symptom (the job runs, the sessions
    idle in transaction, a deploy marker), so the next step is obvious.  ``signals`` are the
    evidence the path needs, in order; ``code`` the service's files it reads (as the code browser names them);
    ``aligned_decoys`` the decoys that line up in time with those signals.  The rule:
    ``obsim.difficulty``.  Nothing here is simulated (it is not in the dataset's cache key).
    """

    landing_pinpoints: bool
    signals: tuple[PathSignal, ...] = ()
    code: tuple[str, ...] = ()
    aligned_decoys: tuple[PathDecoy, ...] = ()

    @field_validator("code")
    @classmethod
    def _code_files(cls, code: tuple[str, ...]) -> tuple[str, ...]:
        bad = [file for file in code if not re.fullmatch(SERVICE_FILE, file)]
        if bad:
            raise ValueError(f"code files must be platform_api/...py paths: {', '.join(bad)}")
        if len(set(code)) != len(code):
            raise ValueError("code lists a file twice")
        return code

    def _facts(self) -> dict[str, Any]:
        return {
            "landing_pinpoints": self.landing_pinpoints,
            "signal_views": [signal.view for signal in self.signals],
            "code_files": len(self.code),
            "aligned_decoys": len(self.aligned_decoys),
        }

    @property
    def difficulty(self) -> difficulty_rule.Difficulty:
        """The difficulty the rule derives from this path."""
        return difficulty_rule.derive(**self._facts())

    @property
    def hard_shortfalls(self) -> list[str]:
        """Why the path is not hard (empty when it is)."""
        return difficulty_rule.hard_shortfalls(**self._facts())


def _overlaps(windows: tuple[Window, ...], others: tuple[Window, ...]) -> bool:
    return any(a.start < b.end and b.start < a.end for a in windows for b in others)


def _path_problems(path: ShortestPath, truth: GroundTruth | None) -> list[str]:
    """Where the path claims what the scenario's own evidence and decoys do not back."""
    evidence = truth.evidence if truth is not None else ()
    decoys = truth.decoys if truth is not None else ()
    problems = []
    seen_windows: list[Window] = []
    for number, signal in enumerate(path.signals, start=1):
        where = f"signals.{number}"
        if signal.evidence > len(evidence):
            problems.append(f"{where}: there is no evidence item {signal.evidence} (of {len(evidence)})")
            continue
        item = evidence[signal.evidence - 1]
        seen_windows.extend(item.windows)
        sightings = [sighting for sighting in item.seen if sighting.view == signal.view]
        if not sightings:
            views = ", ".join(sorted({sighting.view for sighting in item.seen}))
            problems.append(
                f"{where}: evidence item {signal.evidence} is not seen in {signal.view} ({views})"
            )
        elif all(s.terms for s in sightings) and not any(
            term.lower() in signal.query.lower() for s in sightings for term in s.terms
        ):
            terms = ", ".join(term for s in sightings for term in s.terms)
            problems.append(
                f"{where}: the query must name one of {terms} to show evidence item {signal.evidence}"
            )
    for number, aligned in enumerate(path.aligned_decoys, start=1):
        where = f"aligned_decoys.{number}"
        if aligned.decoy > len(decoys):
            problems.append(f"{where}: there is no decoy {aligned.decoy} (of {len(decoys)})")
            continue
        decoy = decoys[aligned.decoy - 1]
        if not _overlaps(decoy.windows, tuple(seen_windows)):
            problems.append(f"{where}: decoy {aligned.decoy} has no window overlapping the path's signals")
        views = {sighting.view for sighting in decoy.seen} | ({"code"} if decoy.files else set())
        if aligned.competes_with not in views:
            problems.append(f"{where}: decoy {aligned.decoy} is not seen in {aligned.competes_with}")
    return problems


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    version: int = Field(ge=1)
    difficulty: difficulty_rule.Difficulty
    time_limit_minutes: int = Field(ge=5, le=120)
    default_seed: int = Field(ge=0)
    brief: str = Field(min_length=1)
    faulty: bool
    window: Window
    load: Load
    data: Data
    app: App = Field(default_factory=App)
    exporters: Exporters = Field(default_factory=Exporters)
    degradations: tuple[Degradation, ...] = ()
    deploy: Deploy | None = None
    readiness: tuple[Readiness, ...] = ()
    hints: tuple[Hint, ...] = ()
    ground_truth: GroundTruth | None = None
    rubric: Rubric | None = None
    shortest_path: ShortestPath
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _faulty_has_truth(self) -> Scenario:
        if self.faulty and (self.ground_truth is None or self.rubric is None):
            raise ValueError("a faulty scenario needs ground_truth and rubric")
        return self

    @model_validator(mode="after")
    def _difficulty_measured(self) -> Scenario:
        problems = _path_problems(self.shortest_path, self.ground_truth)
        if problems:
            raise ValueError("shortest_path: " + "; ".join(problems))
        derived = self.shortest_path.difficulty
        if self.difficulty != derived:
            why = "; ".join(self.shortest_path.hard_shortfalls) or "it meets every condition of hard"
            raise ValueError(
                f"difficulty is {self.difficulty!r} but the shortest path derives {derived!r} ({why})"
            )
        return self

    @model_validator(mode="after")
    def _deploy_in_window(self) -> Scenario:
        if self.deploy is not None and self.deploy.at_minute * 60 >= self.window.duration_s:
            raise ValueError("deploy.at_minute must fall inside the window")
        return self

    @property
    def service_version(self) -> str:
        """The version of the checkout's code in this scenario: what runs after any deploy."""
        return self.deploy.to_version if self.deploy is not None else SERVICE_VERSION

    @property
    def directory(self) -> Path:
        """The directory the scenario was loaded from (its fix.patch and reference files live there)."""
        return self._source.parent if self._source is not None else SCENARIOS_DIR / self.id

    @property
    def source(self) -> Path:
        return self.directory / SCENARIO_FILE


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def load_file(path: Path) -> Scenario:
    """Load and validate one scenario file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ScenarioError(f"{path}: no such file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from error
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(f"{path}: invalid scenario:\n{_describe(error)}") from error
    if scenario.id != path.parent.name:
        raise ScenarioError(f"{path}: id: {scenario.id!r} does not match its directory {path.parent.name!r}")
    scenario._source = path.resolve()
    return scenario


def load(scenario_id: str, root: Path = SCENARIOS_DIR) -> Scenario:
    """Load a scenario by id from ``root``."""
    path = root / scenario_id / SCENARIO_FILE
    if not path.exists():
        known = ", ".join(available(root)) or "none"
        raise ScenarioError(f"unknown scenario {scenario_id!r} (known: {known})")
    return load_file(path)


def available(root: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(p.parent.name for p in root.glob(f"*/{SCENARIO_FILE}"))


def resolve(name: str) -> Scenario:
    """A scenario as a command line names it: the path of a ``.toml`` file, or a library scenario's id."""
    path = Path(name)
    if path.suffix == ".toml" and path.exists():
        return load_file(path)
    return load(name)


def load_all(root: Path = SCENARIOS_DIR) -> list[Scenario]:
    return [load(scenario_id, root) for scenario_id in available(root)]


def previous_release(scenario: Scenario) -> bytes | None:
    """The diff that turns the checkout's code into the release a deploy replaces, if any."""
    if scenario.deploy is None:
        return None
    path = scenario.directory / scenario.deploy.previous_release
    try:
        return path.read_bytes()
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read the previous release's patch: {error}") from error


def fix_patch(scenario: Scenario) -> Path | None:
    path = scenario.directory / FIX_PATCH
    return path if path.exists() else None
