"""Which rows a statement locks, read from its text, for the simulated PostgreSQL.

SQLite has no row locks and no ``FOR UPDATE``, so the simulated server works out what PostgreSQL
would lock before handing the statement to SQLite: :func:`locking_plan` turns a locking ``SELECT``,
an ``UPDATE`` or a ``DELETE`` into a ``SELECT`` of the rowids it touches (run with the statement's
own parameters) and the statement SQLite can run (the locking clause removed).  Every other
statement has no plan and takes no lock.  :func:`lock_timeout_setting` reads ``SET lock_timeout``,
which SQLite would reject.

The service's engine speaks SQLite's dialect, whose compiler drops ``with_for_update()``;
:func:`simulator.postgres.speak_postgres` makes it render the clause as the PostgreSQL dialect does,
so the text the service's spans record and the server receives asks for the lock, as in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from simulator.row_locks import DELETE_ACCESS, UPDATE_ACCESS, Access, RowLockMode, select_access

_FLAGS = re.IGNORECASE | re.DOTALL
_LOCKING_SELECT = re.compile(
    r"^(?P<body>\s*SELECT\s.*?)\s+FOR\s+(?P<mode>UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)"
    r"(?:\s+OF\s+[\w\s,.\"]+?)?(?P<nowait>\s+NOWAIT)?\s*;?\s*$",
    _FLAGS,
)
_SELECT_FROM = re.compile(
    r"^\s*SELECT\s.*?\sFROM\s+(?P<table>\"?\w+\"?)(?:\s+AS\s+(?P<alias>\"?\w+\"?))?", _FLAGS
)
_UPDATE = re.compile(
    r"^\s*UPDATE\s+(?P<table>\"?\w+\"?)\s+SET\s.*?(?:\sWHERE\s+(?P<where>.*?))?(?:\sRETURNING\s.*?)?\s*;?\s*$",
    _FLAGS,
)
_DELETE = re.compile(
    r"^\s*DELETE\s+FROM\s+(?P<table>\"?\w+\"?)(?:\s+WHERE\s+(?P<where>.*?))?(?:\sRETURNING\s.*?)?\s*;?\s*$",
    _FLAGS,
)
_SET_LOCK_TIMEOUT = re.compile(
    r"^\s*SET\s+(?P<scope>SESSION\s+|LOCAL\s+)?lock_timeout\s*(?:=|\sTO\s)\s*'?(?P<value>[^';]*?)'?\s*;?\s*$",
    _FLAGS,
)
_DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|min|h|d)?$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SELECT_MODES = {
    "UPDATE": RowLockMode.UPDATE,
    "NO KEY UPDATE": RowLockMode.NO_KEY_UPDATE,
    "SHARE": RowLockMode.SHARE,
    "KEY SHARE": RowLockMode.KEY_SHARE,
}


@dataclass(frozen=True)
class LockingPlan:
    """How the server runs a statement that locks rows."""

    statement: str  # what SQLite runs
    keys: str  # SELECT of the rowids of ``table`` the statement locks, in scan order
    table: str
    access: Access
    nowait: bool = False


@lru_cache(maxsize=4096)
def locking_plan(statement: str) -> LockingPlan | None:
    """The plan of a statement in SQLite's form, or None if PostgreSQL would lock no row for it."""
    head = statement.lstrip()[:6].upper()
    if head == "SELECT":
        return _select_plan(statement)
    if head == "UPDATE":
        return _write_plan(_UPDATE.match(statement), statement, UPDATE_ACCESS)
    if head == "DELETE":
        return _write_plan(_DELETE.match(statement), statement, DELETE_ACCESS)
    return None


def _select_plan(statement: str) -> LockingPlan | None:
    locking = _LOCKING_SELECT.match(statement)
    if locking is None:
        return None
    body = locking.group("body")
    source = _SELECT_FROM.match(body)
    if source is None:
        return None
    table = _identifier(source.group("table"))
    target = source.group("alias") or source.group("table")
    keys = f"SELECT {target}.rowid FROM {body[source.start('table') :]}"
    mode = _SELECT_MODES[" ".join(locking.group("mode").upper().split())]
    return LockingPlan(body, keys, table, select_access(mode), nowait=locking.group("nowait") is not None)


def _write_plan(match: re.Match[str] | None, statement: str, access: Access) -> LockingPlan | None:
    if match is None:
        return None
    table = match.group("table")
    where = match.group("where")
    keys = f"SELECT rowid FROM {table}" + ("" if where is None else f" WHERE {where}")
    return LockingPlan(statement, keys, _identifier(table), access)


def _identifier(name: str) -> str:
    return name[1:-1] if name.startswith('"') else name.lower()


class LockTimeoutSetting(NamedTuple):
    """A ``SET [SESSION | LOCAL] lock_timeout`` statement: its scope and value (None: DEFAULT)."""

    local: bool
    seconds: float | None


@lru_cache(maxsize=256)
def lock_timeout_setting(statement: str) -> LockTimeoutSetting | None:
    """Read ``SET lock_timeout``; a number without unit is milliseconds, as PostgreSQL reads it.

    Raises ValueError on a value PostgreSQL would refuse."""
    match = _SET_LOCK_TIMEOUT.match(statement)
    if match is None:
        return None
    local = (match.group("scope") or "").strip().upper() == "LOCAL"
    value = match.group("value").strip()
    if value.upper() == "DEFAULT":
        return LockTimeoutSetting(local, None)
    duration = _DURATION.match(value)
    if duration is None:
        raise ValueError(f'invalid value for parameter "lock_timeout": "{value}"')
    unit = _UNIT_S[(duration.group("unit") or "ms").lower()]
    return LockTimeoutSetting(local, float(duration.group("number")) * unit)
