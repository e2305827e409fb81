"""What every live process shares: serving a WSGI app on 127.0.0.1 until told to stop.

A process stops on SIGTERM or SIGINT (Ctrl-C reaches the whole process group), when its own
deadline passes, and when its supervisor is gone, so none outlives a run.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from typing import Any

HOST = "127.0.0.1"
WATCH_INTERVAL_S = 0.5


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Turn SIGTERM into KeyboardInterrupt, which every loop here already treats as "stop".

    SIGUSR1 prints every thread's stack to stderr, for a process that does not stop.
    """
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def watchdog(deadline: float | None) -> None:
    """Signal this process to stop at ``deadline`` (epoch seconds) or when its parent exits."""
    parent = os.getppid()

    def watch() -> None:
        while deadline is None or time.time() < deadline:
            if os.getppid() != parent:
                break
            time.sleep(WATCH_INTERVAL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def serve_until_signalled(
    app: Any, port: int, threads: int, name: str, deadline: float | None = None, **options: Any
) -> None:
    """Serve ``app`` with waitress on 127.0.0.1:``port`` until a signal, the deadline or orphaning."""
    from waitress.server import create_server

    stop_on_signals()
    server = create_server(app, host=HOST, port=port, threads=threads, ident=name, **options)
    print(f"{name} listening on http://{HOST}:{port}", file=sys.stderr, flush=True)
    watchdog(deadline)
    server.run()  # returns after shutting its threads down on KeyboardInterrupt
