"""Tinker sessions: opened by the SDK, kept alive by its heartbeat, finished by `close()`."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.models import service as models_service
from src.features.models.service import ModelSources
from src.models.errors import Gone
from src.models.tinker import ServerCapabilities, SessionCreate, SessionFinish, SupportedModel
from src.storage.scoping import get_owned
from src.storage.tables import TinkerSession
from src.storage.types import utcnow

# the SDK beats every 10 s; a session silent for this long is over (what it trains is let go)
HEARTBEAT_TIMEOUT = timedelta(seconds=120)


def new_session_id() -> str:
    return "sess-" + secrets.token_hex(8)


def create_session(session: Session, *, principal: Principal, data: SessionCreate) -> TinkerSession:
    row = TinkerSession(
        id=new_session_id(),
        owner=principal.owner,
        tags=data.tags,
        user_metadata=data.user_metadata,
        display_name=data.display_name,
        sdk_version=data.sdk_version,
    )
    session.add(row)
    session.flush()
    return row


def get_session(session: Session, *, session_id: str, principal: Principal) -> TinkerSession:
    """The caller's session, or 404 (another owner's is not found either)."""
    return get_owned(session, TinkerSession, session_id, principal, what="session", param="session_id")


def heartbeat(session: Session, *, session_id: str, principal: Principal) -> TinkerSession:
    """Keep an active session alive; a finished or expired one is gone (410)."""
    row = get_session(session, session_id=session_id, principal=principal)
    expire_if_silent(row)
    if row.status != "active":
        raise Gone(f"session {session_id!r} is {row.status}", param="session_id", code="session_ended")
    row.last_heartbeat_at = utcnow()
    return row


def finish(session: Session, *, session_id: str, principal: Principal, data: SessionFinish) -> TinkerSession:
    """End a session (the SDK's `close()`); finishing it again changes nothing."""
    row = get_session(session, session_id=session_id, principal=principal)
    if row.status == "active":
        row.status = "finished"
        row.finish_reason = data.reason.type
        row.finish_detail = data.detail
        row.finished_at = utcnow()
    return row


def expire_if_silent(row: TinkerSession) -> None:
    if row.status == "active" and utcnow() - row.last_heartbeat_at > HEARTBEAT_TIMEOUT:
        row.status = "expired"
        row.finished_at = utcnow()


def expire_silent_sessions(session: Session) -> int:
    """Mark every active session whose heartbeat stopped as expired; returns how many."""
    now = utcnow()
    result = session.execute(
        update(TinkerSession)
        .where(TinkerSession.status == "active", TinkerSession.last_heartbeat_at < now - HEARTBEAT_TIMEOUT)
        .values(status="expired", finished_at=now)
    )
    return result.rowcount or 0


def capabilities(*, sources: ModelSources) -> ServerCapabilities:
    """The base models this server can train and sample: the catalog, the demo model and the model roots."""
    names = sorted(models_service.base_models(sources=sources))
    return ServerCapabilities(supported_models=[SupportedModel(model_name=name) for name in names])
