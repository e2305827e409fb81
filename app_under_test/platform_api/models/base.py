"""Declarative base and column types shared by all models.

Models use only portable SQL types so the same schema runs on PostgreSQL in production and SQLite
on a laptop.  Timestamps are always timezone-aware UTC: :class:`UTCDateTime` restores the zone on
backends that store naive values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from platform_api.lib import clock


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use clock.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: 64-bit ids for the high-volume tables; SQLite only auto-increments a plain INTEGER key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


def utcnow() -> datetime:
    """Column default for creation timestamps."""
    return clock.utcnow()
