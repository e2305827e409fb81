"""The ``obsim live`` subcommand: its options and its handler (``obsim_cli/main.py`` only registers it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from live import DEFAULT_REDIS_URL


def register(subcommands: Any) -> None:
    live = subcommands.add_parser(
        "live",
        help="run a scenario for real: WSGI server, connection pool, scheduler and clients on 127.0.0.1",
    )
    live.add_argument("scenario", help="scenario id or path to a scenario.toml")
    live.add_argument(
        "--db",
        help="database URL (default: a SQLite file in the run directory; PostgreSQL: postgresql+psycopg://...)",
    )
    live.add_argument("--port", type=int, default=8080, help="the service's port on 127.0.0.1 (default 8080)")
    live.add_argument(
        "--pool-size", type=int, default=200, help="the connection pool's size (default 200, as deployed)"
    )
    live.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run the scenario's timeline X times faster: cron periods and degradations; durations stay real",
    )
    live.add_argument(
        "--otlp-endpoint", help="also send traces and logs to this OTLP/HTTP collector (http://host:4318)"
    )
    live.add_argument(
        "--duration", type=float, help="seconds to run (default: the scenario's window / time scale)"
    )
    live.add_argument("--load-scale", type=float, default=1.0, help="multiply the scenario's request rate")
    live.add_argument(
        "--patch", type=Path, help="unified diff to apply to a copy of app_under_test for this run"
    )
    live.add_argument("--out", type=Path, help="run directory (default: a new one beside the dataset cache)")
    live.add_argument(
        "--ui-port", type=int, help="also serve the candidate platform over the live dataset on this port"
    )
    live.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="an empty Redis database index for a scenario whose service uses Redis: seeded with the "
        f"shared instance's keys, flushed when the run ends (default {DEFAULT_REDIS_URL})",
    )
    live.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from obsim.scenario import resolve
    from obsim_cli.live_supervisor import LiveError, LiveOptions, run_live

    options = LiveOptions(
        scenario=resolve(args.scenario),
        db=args.db,
        port=args.port,
        pool_size=args.pool_size,
        time_scale=args.time_scale,
        otlp_endpoint=args.otlp_endpoint,
        duration=args.duration,
        load_scale=args.load_scale,
        patch=args.patch,
        out=args.out,
        ui_port=args.ui_port,
        redis_url=args.redis_url,
    )
    try:
        result = run_live(options)
    except LiveError as error:
        print(f"obsim: error: {error}", file=sys.stderr)
        return 2
    load = result.load
    print(f"requests   {load.get('sent', 0):,} sent; by outcome: {load.get('status', {})}")
    if (result.dataset / "manifest.json").exists():
        print(f"dataset    {result.dataset}  (obsim serve {result.dataset})")
    return 0
