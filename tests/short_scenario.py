"""A short real scenario for tests that run a whole generation: seconds, not minutes."""

from __future__ import annotations

import re
from pathlib import Path

from obsim import scenario as scenarios


def short_scenario(root: Path, keep_readiness: bool = False) -> scenarios.Scenario:
    """connection-leak cut to 10 minutes, degrading from minute 3: small but exercising every path.

    Too short for the pool to fill, so its readiness assertions are dropped unless asked for.
    """
    text = (scenarios.SCENARIOS_DIR / "connection-leak" / scenarios.SCENARIO_FILE).read_text()
    if not keep_readiness:
        text = re.sub(r"\[\[readiness\]\]\n(?:\w+ = .*\n)+", "", text)
    text = text.replace('id = "connection-leak"', 'id = "short"')
    text = re.sub(r"end = \S+", "end = 2026-03-10T14:10:00Z", text, count=1)
    text = text.replace("start_minute = 20", "start_minute = 3")
    directory = root / "short"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / scenarios.SCENARIO_FILE).write_text(text)
    return scenarios.load_file(directory / scenarios.SCENARIO_FILE)
