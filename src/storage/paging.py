"""Keyset (cursor) pagination: a page costs the same whatever the table's size."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

RowT = TypeVar("RowT")


def keyset_page(
    session: Session,
    stmt: Select[tuple[RowT]],
    *,
    key: InstrumentedAttribute[Any],
    limit: int,
    after: Any = None,
) -> tuple[list[RowT], bool]:
    """Rows newest first by `key` (indexed, creation-ordered) after `after`, and whether more follow."""
    stmt = stmt.order_by(key.desc()).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(key < after)
    rows = list(session.scalars(stmt))
    return rows[:limit], len(rows) > limit
