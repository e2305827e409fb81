"""How hard a scenario is, derived from the shortest path a strong candidate takes through it.

A label an author picks drifts towards what the author hoped; issue 18 found the "hard" scenarios
diagnosed as fast as the medium ones.  So a scenario writes down its shortest path (its
``[shortest_path]`` table: ``obsim.scenario.ShortestPath``) and the label follows from it by one rule:

- **hard**: the landing dashboard alone does not pinpoint the fault; the path needs at least
  :data:`HARD_SIGNALS` signals from at least :data:`HARD_VIEWS` different views, code read across at
  least :data:`HARD_CODE_FILES` files, and at least one decoy that lines up in time with the signals;
- **easy**: the landing dashboard pinpoints the fault and at most one code file confirms it;
- **medium**: everything between.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

Difficulty = Literal["easy", "medium", "hard"]

HARD_SIGNALS = 3
HARD_VIEWS = 2
HARD_CODE_FILES = 2
HARD_ALIGNED_DECOYS = 1
EASY_CODE_FILES = 1


def hard_shortfalls(
    *, landing_pinpoints: bool, signal_views: Collection[str], code_files: int, aligned_decoys: int
) -> list[str]:
    """What keeps a path from being hard, in words an author can act on (empty: it is hard)."""
    shortfalls = []
    if landing_pinpoints:
        shortfalls.append("the landing dashboard alone pinpoints the fault")
    if len(signal_views) < HARD_SIGNALS:
        shortfalls.append(f"{len(signal_views)} signal(s), fewer than {HARD_SIGNALS}")
    distinct = len(set(signal_views))
    if distinct < HARD_VIEWS:
        shortfalls.append(f"signals from {distinct} view(s), fewer than {HARD_VIEWS}")
    if code_files < HARD_CODE_FILES:
        shortfalls.append(f"code read in {code_files} file(s), fewer than {HARD_CODE_FILES}")
    if aligned_decoys < HARD_ALIGNED_DECOYS:
        shortfalls.append("no decoy lines up in time with the signals")
    return shortfalls


def derive(
    *, landing_pinpoints: bool, signal_views: Collection[str], code_files: int, aligned_decoys: int
) -> Difficulty:
    """The difficulty the rule gives a path (see the module's docstring).

    ``signal_views`` holds one view per signal of the path (repeats allowed: two metrics are two
    signals from one view), ``code_files`` the number of distinct files read.
    """
    if not hard_shortfalls(
        landing_pinpoints=landing_pinpoints,
        signal_views=signal_views,
        code_files=code_files,
        aligned_decoys=aligned_decoys,
    ):
        return "hard"
    if landing_pinpoints and code_files <= EASY_CODE_FILES:
        return "easy"
    return "medium"
