"""The candidate platform over a live run's dataset: ``python -m obsim_cli.live_ui ...`` (``--ui-port``).

The same app ``obsim serve`` builds (open, no interview), served like the other live processes:
on 127.0.0.1 until a signal, its deadline or its supervisor's exit.  It reads the dataset while the
recorder writes it, so the time picker's ``now`` is where the recording has got to.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from live.process import serve_until_signalled

UI_THREADS = 8  # a dashboard asks for its panels at once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="obsim_cli.live_ui")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deadline", type=float, help="stop at this time (epoch seconds)")
    args = parser.parse_args(argv)
    from observability_ui.serving import Platform, build

    app = build(Platform(args.dataset))
    serve_until_signalled(app, args.port, threads=UI_THREADS, name="obsim-ui", deadline=args.deadline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
