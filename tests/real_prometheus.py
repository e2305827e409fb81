"""A real Prometheus serving a dataset's metrics, for the tests that compare obsim with it.

The dataset is exported as OpenMetrics, backfilled with ``promtool tsdb create-blocks-from
openmetrics`` and served by ``prometheus`` on 127.0.0.1 (Debian's package: ``scripts/install-test-tools.sh``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from obsim.dataset.exporters import EXPORTERS
from obsim.dataset.reader import Dataset

PROMTOOL, PROMETHEUS = shutil.which("promtool"), shutil.which("prometheus")


@contextmanager
def serving(run: Path, root: Path) -> Iterator[str]:
    """The base URL of a Prometheus serving the metrics of the dataset at ``run``, its files in ``root``."""
    exported, blocks = root / "metrics.om", root / "data"
    with Dataset.open(run) as dataset:
        EXPORTERS["openmetrics"](dataset, exported)
    backfill = [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", str(exported), str(blocks)]
    done = subprocess.run(backfill, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    config = root / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1m\n", encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (root / "prometheus.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={blocks}",
            "--storage.tsdb.retention.time=100y",  # the run's samples are older than the default 15 days
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server, root / "prometheus.log")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text(encoding='utf-8')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("prometheus did not become ready within 2 minutes")
