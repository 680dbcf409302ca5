"""What the health probes report."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from src.models.errors import Unavailable
from src.models.runs import ACTIVE_STATUSES
from src.storage import Store
from src.storage.tables import Run

logger = logging.getLogger(__name__)


def job_counts(session: Session) -> tuple[int, int]:
    """(active, total) runs in the store."""
    total = session.scalar(select(func.count()).select_from(Run)) or 0
    active = session.scalar(
        select(func.count()).select_from(Run).where(Run.status.in_([s.value for s in ACTIVE_STATUSES]))
    )
    return active or 0, total


def check_database(store: Store) -> None:
    """Raise 503 naming the database when it cannot answer."""
    try:
        store.ping()
    except SQLAlchemyError as exc:
        logger.warning("readiness: database check failed: %s", exc.__class__.__name__)
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).splitlines()[0]
        raise Unavailable(f"database unavailable: {reason}", param="database", code="not_ready") from exc
