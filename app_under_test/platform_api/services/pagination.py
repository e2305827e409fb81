"""Offset pagination for list endpoints: a total count plus one page of rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


def paginate(
    session: Session,
    model: type[T],
    filters: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    page: int,
    page_size: int,
) -> Page[T]:
    """Rows of ``model`` matching ``filters``: the ``page``-th (1-based) page and the total count."""
    total = session.scalar(select(func.count()).select_from(model).where(*filters)) or 0
    rows = session.scalars(
        select(model).where(*filters).order_by(*order_by).limit(page_size).offset((page - 1) * page_size)
    )
    return Page(items=list(rows), total=total, page=page, page_size=page_size)
