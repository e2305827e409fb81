"""The ``obsim`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from obsim import scenario as scenarios
from obsim.dataset.reader import Dataset, DatasetError
from obsim.scenario import ScenarioError
from obsim_cli import live_command as live_cli
from obsim_cli.generate import CachedGeneration

if TYPE_CHECKING:
    from interview.store import InterviewStore
    from observability_ui.candidate_session import Served


def _print_scenarios(_: argparse.Namespace) -> int:
    from obsim_cli import dataset_cache as cache

    header = ("ID", "TITLE", "DIFFICULTY", "TIME LIMIT", "DATASET")
    rows = [
        (
            s.id,
            s.title,
            s.difficulty,
            f"{s.time_limit_minutes} min",
            "ready" if cache.is_cached(s) else "generated on first run",
        )
        for s in scenarios.load_all()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _validate(args: argparse.Namespace) -> int:
    paths = [Path(args.path)] if args.path else [scenarios.SCENARIOS_DIR]
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob(f"*/{scenarios.SCENARIO_FILE}")) if path.is_dir() else [path]
    if not files:
        raise ScenarioError(f"{paths[0]}: no scenario files found")
    for file in files:
        loaded = scenarios.load_file(file)
        print(f"ok  {loaded.id}  ({file})")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from obsim_cli.generate import generate

    if args.all:
        return _generate_all(args)
    loaded = scenarios.resolve(args.scenario)
    result = generate(
        loaded, seed=args.seed, patch_file=args.patch, out=args.out, use_cache=not args.no_cache
    )
    _print_summary(result.path, cached=result.cached)
    return 0


def _generate_all(args: argparse.Namespace) -> int:
    """Every scenario's dataset, ``--jobs`` at a time: prepare an interview day ahead."""
    from obsim_cli.generate import generate_each

    todo = scenarios.load_all()
    jobs = args.jobs or min(len(todo), os.cpu_count() or 1)
    print(f"generating {len(todo)} scenarios, {jobs} at a time (a cached one is ready at once)", flush=True)
    failed = 0
    for outcome in generate_each(todo, jobs, use_cache=not args.no_cache):
        minutes, seconds = divmod(round(outcome.seconds), 60)
        if outcome.generated is None:
            failed += 1
            print(f"failed     {outcome.scenario.id}: {outcome.error}", flush=True)
        elif outcome.generated.cached:
            print(f"cached     {outcome.scenario.id}", flush=True)
        else:
            print(f"generated  {outcome.scenario.id} in {minutes}m{seconds:02d}s", flush=True)
    if failed:
        print(f"obsim: error: {failed} of {len(todo)} scenarios failed to generate", file=sys.stderr)
        return 1
    print("every scenario is ready: `obsim run SCENARIO` serves it at once")
    return 0


def _print_summary(path: Path, cached: bool) -> None:
    from obsim.symptom_figures import compute

    with Dataset.open(path) as dataset:
        figures = compute(dataset.connection)
        manifest = dataset.manifest
    counts = manifest.get("counts", {})
    print(f"dataset   {path}{'  (cached)' if cached else ''}")
    print(f"scenario  {manifest['scenario']}  seed {manifest['seed']}")
    print(
        f"telemetry {counts.get('requests', 0):,} requests, {counts.get('spans', 0):,} spans, "
        f"{counts.get('logs', 0):,} logs, {counts.get('samples', 0):,} metric samples"
    )
    f = figures
    print(
        f"figures   5xx {f.server_error_ratio:.1%}, pool peak {f.peak_pool_used:.0f}/{f.pool_max:.0f}, "
        f"idle in transaction peak {f.peak_idle_in_transaction:.0f}, DB CPU peak {f.peak_db_cpu:.0%}, "
        f"pool timeouts {f.pool_timeouts:.0f}, request queue peak {f.peak_request_queue:.0f}, "
        f"OOM kills {f.worker_oom_kills:.0f}"
    )
    if figures.hourly_latency_ratios:
        ratios = ", ".join(f"{r:.1f}x" for r in figures.hourly_latency_ratios)
        print(f"          latency hh:00-03 vs rest of hour: {ratios}")


def _run(args: argparse.Namespace) -> int:
    from obsim_cli import dataset_cache as cache
    from obsim_cli.generate import generate

    if args.scenario is None:
        return _run_day(args)
    loaded = scenarios.resolve(args.scenario)
    if cache.is_cached(loaded, args.seed):
        result = generate(loaded, seed=args.seed)
        _print_summary(result.path, cached=result.cached)
        return _serve_dataset(result.path, loaded.brief, args, loaded)
    if _prepares_while_serving(loaded, args):
        print(f"{loaded.id}: {PREPARED_WHILE_SERVING}", flush=True)
        return _serve_dataset(cache.dataset_path(loaded, args.seed), loaded.brief, args, loaded, prepare=True)
    print(
        f"generating {loaded.id}: a few minutes, once for this code and seed"
        " (`obsim generate --all` prepares every scenario ahead of interviews)",
        flush=True,
    )
    result = generate(loaded, seed=args.seed)
    _print_summary(result.path, cached=result.cached)
    return _serve_dataset(result.path, loaded.brief, args, loaded)


#: what the terminal says when a cold start serves at once
PREPARED_WHILE_SERVING = (
    "generating the dataset in the background (a few minutes, once for this code and seed): the"
    " interviewer console shows its progress, the candidate link a page saying the environment is"
    " being set up until it is ready"
)


def _prepares_while_serving(incident: scenarios.Scenario, args: argparse.Namespace) -> bool:
    """Whether a cold start serves at once and generates meanwhile: an interview (a faulty scenario:
    its candidate link can say to wait) in one server process (which runs the one generation)."""
    return incident.ground_truth is not None and args.workers == 1


def _run_day(args: argparse.Namespace) -> int:
    """An interview day: serve every faulty scenario whose dataset is ready (when none is, the
    default one is generated first, in the background while serving from one process); the console
    prepares the others in the background."""
    from observability_ui.candidate_session import Served
    from obsim_cli import dataset_cache as cache
    from obsim_cli.generate import generate

    if args.seed is not None:
        raise ScenarioError("--seed goes with a scenario: an interview day serves each at its default seed")
    day = [s for s in scenarios.load_all() if s.ground_truth is not None]
    ready = [s for s in day if cache.is_cached(s)]
    if not ready:
        first = scenarios.load(scenarios.DEFAULT_SCENARIO)
        if _prepares_while_serving(first, args):
            _print_day(day, ready)
            print(f"no scenario is ready: {first.id} first, {PREPARED_WHILE_SERVING}", flush=True)
            return _serve_dataset(cache.dataset_path(first), first.brief, args, first, day=True, prepare=True)
        print(f"no scenario is ready: generating {first.id} first (a few minutes)", flush=True)
        ready = [first]
    first, *more = [Served(s, generate(s).path) for s in ready]
    _print_day(day, ready)
    return _serve_dataset(first.dataset, first.scenario.brief, args, first.scenario, tuple(more), day=True)


def _print_day(day: list[scenarios.Scenario], ready: list[scenarios.Scenario]) -> None:
    for incident in day:
        state = "ready" if incident in ready else "not ready: prepare it from the console"
        print(f"  {incident.id:18} {state}")


def _serve(args: argparse.Namespace) -> int:
    if len(args.target) > 1:
        return _serve_several(args)
    target = Path(args.target[0])
    if target.is_dir():
        return _serve_dataset(target, args.brief or _recorded_scenario_brief(target), args)
    from obsim_cli.generate import generate

    loaded = scenarios.resolve(args.target[0])
    result = generate(loaded, seed=args.seed)
    return _serve_dataset(result.path, loaded.brief, args, loaded)


def _serve_several(args: argparse.Namespace) -> int:
    """One interview server over several prepared datasets, each of another faulty scenario."""
    from observability_ui.candidate_session import Served

    served: dict[str, Served] = {}
    for target in map(Path, args.target):
        if not target.is_dir():
            raise ScenarioError(f"{target}: several targets must all be dataset directories")
        with Dataset.open(target) as dataset:
            scenario_id = dataset.manifest.get("scenario")
        if not isinstance(scenario_id, str) or scenario_id not in scenarios.available():
            raise ScenarioError(f"{target}: not the dataset of a scenario in this checkout")
        incident = scenarios.load(scenario_id)
        if incident.ground_truth is None or scenario_id in served:
            raise ScenarioError(f"{target}: {scenario_id} is a control scenario or given twice")
        served[scenario_id] = Served(incident, target)
    first, *more = served.values()
    return _serve_dataset(first.dataset, first.scenario.brief, args, first.scenario, tuple(more))


def _recorded_scenario_brief(path: Path) -> str:
    """The brief of the scenario a dataset was generated from, so a bare dataset still shows the
    incident it recorded; empty for a live recording or a scenario this checkout does not have."""
    with Dataset.open(path) as dataset:
        scenario_id = dataset.manifest.get("scenario")
    if not isinstance(scenario_id, str) or scenario_id not in scenarios.available():
        return ""
    try:
        return scenarios.load(scenario_id).brief
    except ScenarioError:  # a broken scenario file must not keep its recording from being served
        return ""


def _serve_dataset(
    path: Path,
    brief: str,
    args: argparse.Namespace,
    incident: scenarios.Scenario | None = None,
    more: tuple[Served, ...] = (),
    day: bool = False,
    prepare: bool = False,
) -> int:
    """Serve the platform; over a faulty scenario, as an interview with a candidate link and a console
    (over several, or a ``day``, candidates' sessions are made in the console); with ``prepare``,
    while ``incident``'s dataset is generated at ``path`` in the background.

    Tables, the interviewer's token and this launch's session are made here, once, before any
    worker process starts; the workers then only open the same database.
    """
    from observability_ui.request_context import DEFAULT_METRIC_MEMORY_MB
    from observability_ui.serving import Platform, serve

    memory_mb = args.metric_memory_mb or DEFAULT_METRIC_MEMORY_MB
    if not prepare:  # refuse a broken dataset here, not in every worker
        with Dataset.open(path):
            pass
    base = args.public_url or _bound_url(args.host, args.port)
    if incident is None or incident.ground_truth is None:
        platform = Platform(path, brief, behind_proxy=args.behind_proxy, metric_memory_mb=memory_mb)
        print(f"\nobservability platform (open, no interview): {base}/")
    else:
        from interview.store import InterviewStore

        url = args.db or _default_interviews_url()
        interviews = InterviewStore(url)
        token = interviews.interviewer_token(reset=args.new_interviewer_token)
        if more or day:
            print(f"\nscenarios served: {1 + len(more)}; create each candidate's session in the console")
        else:
            _, link = interviews.create_session(
                args.candidate, incident.id, incident.default_seed, incident.time_limit_minutes * 60.0
            )
            print(f"\ncandidate link ({args.candidate}): {base}/join/{link}")
        interviews.engine.dispose()  # no connection of this process is inherited by a worker
        platform = Platform(
            path,
            brief,
            incident=incident,
            db_url=url,
            behind_proxy=args.behind_proxy,
            public_url=base,
            more_incidents=more,
            day=day,
            metric_memory_mb=memory_mb,
            prepare=prepare,
            seed=args.seed,
            generation=CachedGeneration(),
        )
        if token is not None:
            print(f"interviewer console: {base}/interviewer/login/{token}")
            print("  (keep this link: it is shown only now; --new-interviewer-token replaces it)")
        else:
            print(f"interviewer console: {base}/interviewer/ (use the link printed at first launch,")
            print("  or restart with --new-interviewer-token)")
    print("stop with Ctrl-C", flush=True)
    serve(platform, args.host, args.port, workers=args.workers)
    return 0


def _bound_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _public_url(text: str) -> str:
    from observability_ui.protection import public_origin

    try:
        return public_origin(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _default_interviews_url() -> str:
    from obsim_cli.dataset_cache import cache_root

    root = cache_root().parent
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'interviews.sqlite'}"


def _interview(args: argparse.Namespace) -> int:
    """Sessions on the interviews database a running server reads (it sees changes at once)."""
    from interview.store import InterviewStore

    interviews = InterviewStore(args.db or _default_interviews_url())
    if args.action == "new":
        loaded = scenarios.resolve(args.scenario)
        if loaded.ground_truth is None:
            raise ScenarioError(f"{loaded.id} has no incident to interview on")
        session_id, link = interviews.create_session(
            args.candidate, loaded.id, loaded.default_seed, loaded.time_limit_minutes * 60.0
        )
        print(f"session {session_id} for {args.candidate} ({loaded.id})")
        print(f"candidate link: {args.base_url.rstrip('/')}/join/{link}")
    elif args.action == "list":
        for s in interviews.sessions():
            state = "not started" if s.started_at is None else f"{s.elapsed_s() / 60:.0f} min used"
            print(f"{s.id}  {s.scenario_id:16} {s.created_at:%Y-%m-%d %H:%M}  {state:14} {s.candidate}")
    elif args.action == "scorecard":
        _scorecard(interviews, args)
    elif args.action == "compare":
        _compare(interviews, args)
    elif not interviews.delete(args.session):
        raise ScenarioError(f"no interview session {args.session}")
    else:
        print(f"deleted session {args.session} and everything recorded for it")
    return 0


def _scorecard(interviews: InterviewStore, args: argparse.Namespace) -> None:
    from interview import scorecard

    session = interviews.get(args.session)
    if session is None:
        raise ScenarioError(f"no interview session {args.session}")
    try:
        own: scenarios.Scenario | None = scenarios.load(session.scenario_id)
    except ScenarioError as error:  # its record and scores stay readable without the scenario
        print(
            f"obsim: warning: {error}: the scorecard has no figures, hint texts or checklist levels",
            file=sys.stderr,
        )
        own = None
    text = scorecard.render(scorecard.build(interviews, own, session.id), args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")


def _compare(interviews: InterviewStore, args: argparse.Namespace) -> None:
    from interview import scorecard

    groups = scorecard.comparison(interviews, scenarios.resolve(args.scenario))
    if args.format == "json":
        print(json.dumps(groups, indent=2))
        return
    for group in groups:
        print(f"\n{scorecard.dataset_label(group['dataset'])}\n")
        print(
            "| candidate | automatic | level | first signal | expected signals seen | on decoys | queries | hints | submitted |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for r in group["rows"]:
            auto = (
                "—"
                if r["automatic_total"] is None
                else f"{r['automatic_total']}{' (late)' if r['late'] else ''}"
            )
            print(
                f"| {r['candidate']} | {auto} | {r['level_name'] or 'not scored'} "
                f"| {scorecard.minutes(r['time_to_first_relevant_signal_s'])} | {r['evidence_seen']}/{r['evidence_total']} "
                f"| {scorecard.minutes(r['time_on_decoys_s'])} | {r['queries']} | {r['hints_used']} "
                f"| {scorecard.minutes(r['time_to_submission_s'])} |"
            )


def _score(args: argparse.Namespace) -> int:

    from interview.scoring import load_submission, score

    loaded = scenarios.resolve(args.scenario)
    if loaded.ground_truth is None:
        raise ScenarioError(f"{loaded.id} is a control scenario without a fault: there is nothing to score")
    print(json.dumps(score(loaded, load_submission(args.submission)).to_json(), indent=2))
    return 0


def _verify_fix(args: argparse.Namespace) -> int:
    from obsim_cli.verify_fix import report, verify_fix

    if not args.patch.is_file():
        raise ScenarioError(f"{args.patch}: no such patch file")
    verdict = verify_fix(scenarios.resolve(args.scenario), args.patch, seed=args.seed)
    print(report(verdict))
    return 0 if verdict.fixed else 1


def _export(args: argparse.Namespace) -> int:
    from obsim.dataset.exporters import EXPORTERS

    with Dataset.open(args.dataset) as dataset:
        EXPORTERS[args.format](dataset, args.out)
    print(f"wrote {args.out}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from obsim.dataset.writer import directory_size
    from obsim_cli import dataset_cache as cache

    if args.action == "clear":
        print(f"removed {cache.clear()} cached dataset(s) from {cache.cache_root()}")
        return 0
    if args.action == "prune":
        removed, freed = cache.prune()
        print(
            f"removed {removed} outdated dataset(s) and interrupted runs' leftovers: {freed / 1e6:.1f} MB freed"
        )
        return 0
    entries = cache.cached_datasets()
    current = cache.code_hash()
    if not entries:
        print(f"no cached datasets in {cache.cache_root()}")
    for path, manifest in entries:
        size = directory_size(path) / 1e6
        notes = ("  patched" if manifest.get("patch_sha256") else "") + (
            "  outdated (older code: `obsim cache prune`)" if manifest.get("code_hash") != current else ""
        )
        print(f"{path.name}  {manifest.get('scenario')}  seed {manifest.get('seed')}  {size:.1f} MB{notes}")
    return 0


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--candidate", default="candidate", help="name for this launch's candidate session")
    parser.add_argument("--db", help="interviews database URL (default: SQLite beside the dataset cache)")
    parser.add_argument(
        "--new-interviewer-token", action="store_true", help="replace the interviewer's secret link"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes (default 1; more: gunicorn, with --db on PostgreSQL recommended)",
    )
    parser.add_argument(
        "--behind-proxy",
        action="store_true",
        help="trust one reverse proxy's X-Forwarded-For/-Proto/-Host (TLS there: Secure cookies)",
    )
    parser.add_argument(
        "--metric-memory-mb",
        type=_positive,
        help="metric arrays kept in memory across datasets, in MB (default about a GB): past it, the least"
        " recently used datasets' are dropped and read again when asked for",
    )
    parser.add_argument(
        "--public-url",
        type=_public_url,
        help="where candidates reach the server, e.g. https://interviews.example.com: the links printed"
        " and made in the console use it (default http://HOST:PORT; required with --behind-proxy)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def _check_generate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.all and (args.scenario or args.seed is not None or args.patch or args.out):
        parser.error("generate --all takes no scenario, --seed, --patch or --out")
    if not args.all and args.scenario is None:
        parser.error("generate needs a scenario (or --all)")
    if args.jobs is not None and not args.all:
        parser.error("--jobs goes with --all")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obsim", description="Observability-debugging interview simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the scenarios").set_defaults(func=_print_scenarios)

    validate = sub.add_parser("validate", help="check scenario files")
    validate.add_argument(
        "path", nargs="?", help="a scenario.toml or a directory of scenarios (default: all)"
    )
    validate.set_defaults(func=_validate)

    gen = sub.add_parser(
        "generate", help="generate a scenario's dataset (or every one's, ahead of interviews)"
    )
    gen.add_argument("scenario", nargs="?", help="scenario id or path to a scenario.toml")
    gen.add_argument("--all", action="store_true", help="every scenario, at its default seed")
    gen.add_argument(
        "--jobs",
        type=_positive,
        help="with --all: scenarios generated at once (default: the machine's cores)",
    )
    gen.add_argument("--seed", type=int)
    gen.add_argument("--patch", type=Path, help="unified diff to apply to app_under_test for this run")
    gen.add_argument("--out", type=Path, help="write the dataset exactly here")
    gen.add_argument("--no-cache", action="store_true", help="always run the simulation")
    gen.set_defaults(func=_generate)

    run = sub.add_parser(
        "run",
        help="generate a scenario (if not cached) and serve it; without one, an interview day over every"
        " scenario whose dataset is ready",
    )
    run.add_argument("scenario", nargs="?", help="scenario id or path to a scenario.toml (default: the day)")
    run.add_argument("--seed", type=int)
    _server_options(run)
    run.set_defaults(func=_run)

    serve = sub.add_parser("serve", help="serve the observability platform over a dataset or a scenario")
    serve.add_argument(
        "target",
        nargs="+",
        help="a dataset directory, or a scenario id (generated if not cached); several dataset"
        " directories of different scenarios: one interview server for them all",
    )
    serve.add_argument("--seed", type=int)
    serve.add_argument(
        "--brief",
        help="incident brief to show with a bare dataset directory"
        " (default: the brief of the scenario it was generated from)",
    )
    _server_options(serve)
    serve.set_defaults(func=_serve)

    interview = sub.add_parser("interview", help="create, list or delete interview sessions")
    interview.add_argument("--db", help="interviews database URL (default: SQLite beside the dataset cache)")
    actions = interview.add_subparsers(dest="action", required=True)
    new = actions.add_parser("new", help="a new candidate session; prints its link")
    new.add_argument("scenario", help="the scenario the server runs")
    new.add_argument("--candidate", required=True)
    new.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the server is reached")
    actions.add_parser("list", help="every session")
    remove = actions.add_parser("delete", help="remove a session and everything recorded for it")
    remove.add_argument("session")
    card = actions.add_parser("scorecard", help="a session's scorecard: both scores, figures, timeline")
    card.add_argument("session")
    card.add_argument("--format", choices=("html", "md", "json"), default="md")
    card.add_argument("--output", "-o", type=Path, help="write to this file instead of standard output")
    compare = actions.add_parser("compare", help="every candidate of one scenario side by side")
    compare.add_argument("scenario")
    compare.add_argument("--format", choices=("md", "json"), default="md")
    interview.set_defaults(func=_interview)

    score_cmd = sub.add_parser("score", help="score a candidate's submission against a scenario (JSON)")
    score_cmd.add_argument("scenario", help="scenario id or path to a scenario.toml")
    score_cmd.add_argument("--submission", type=Path, required=True, help="the candidate's submission JSON")
    score_cmd.set_defaults(func=_score)

    verify = sub.add_parser(
        "verify-fix",
        help="re-run a scenario with a proposed patch and compare its symptoms (runs the patch's code)",
    )
    verify.add_argument("scenario", help="scenario id or path to a scenario.toml")
    verify.add_argument("patch", type=Path, help="unified diff against app_under_test")
    verify.add_argument("--seed", type=int)
    verify.set_defaults(func=_verify_fix)

    export = sub.add_parser("export", help="export a dataset to standard formats")
    export.add_argument("dataset", type=Path)
    export.add_argument("--format", required=True, choices=["openmetrics", "otlp-json", "jsonl"])
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(func=_export)

    cache_cmd = sub.add_parser("cache", help="list, prune or clear cached datasets")
    cache_cmd.add_argument(
        "action",
        choices=["list", "prune", "clear"],
        help="prune: remove datasets older code built and interrupted runs' leftovers; clear: everything",
    )
    cache_cmd.set_defaults(func=_cache)

    live_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate":
        _check_generate_args(parser, args)
    if getattr(args, "behind_proxy", False) and args.public_url is None:
        parser.error(
            "--behind-proxy needs --public-url (the proxy's address, e.g. https://interviews.example.com)"
        )
    from interview.scoring import SubmissionError
    from obsim_cli.generate import GenerationError

    try:
        return args.func(args)
    except (ScenarioError, DatasetError, GenerationError, SubmissionError) as error:
        print(f"obsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("obsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
