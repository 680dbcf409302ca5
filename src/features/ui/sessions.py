"""Dashboard logins: an API key traded once for a session cookie that never carries the key.

The cookie holds a random token; the store keeps only its SHA-256 digest, the id of the
key it was traded for and a CSRF token. Every request re-reads the key, so a revoked key
ends its sessions at once, and logging out deletes the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from src.features.auth import service as auth_service
from src.features.auth.service import Principal, Role
from src.storage.tables import ApiKey, UiSession
from src.storage.types import utcnow

COOKIE_NAME = "tuning_ui"
SESSION_HOURS = 12
# a key's live sessions (browsers); logging in once more ends its oldest, so logins in a loop
# cannot grow the table
MAX_SESSIONS_PER_KEY = 20


@dataclass(frozen=True)
class UiLogin:
    """Who a session cookie stands for, and the token its pages send back with each change."""

    principal: Principal
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def log_in(session: Session, *, key: str | None, auth_off: bool) -> tuple[str, UiLogin]:
    """A new session for a valid key (raises `Unauthenticated` otherwise); returns the cookie value.

    With auth off there are no keys: the session is the local admin's.
    """
    if auth_off:
        principal, key_id = auth_service.LOCAL_PRINCIPAL, None
    else:
        principal = auth_service.authenticate(session, token=key or None)
        key_id = principal.key_id
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UiSession(
            digest=_digest(token),
            key_id=key_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    # expired sessions of anyone go with each login, so the table stays small
    session.execute(delete(UiSession).where(UiSession.expires_at < now))
    session.flush()
    if key_id is not None:
        beyond = (
            select(UiSession.digest)
            .where(UiSession.key_id == key_id)
            .order_by(UiSession.created_at.desc(), UiSession.digest)
            .offset(MAX_SESSIONS_PER_KEY)
        )
        stale = list(session.scalars(beyond))
        if stale:
            session.execute(delete(UiSession).where(UiSession.digest.in_(stale)))
    return token, UiLogin(principal=principal, csrf_token=csrf)


def current(session: Session, *, token: str | None, auth_off: bool) -> UiLogin | None:
    """The login a cookie stands for, or None: unknown, expired, or its key revoked."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(UiSession, ApiKey)
        .outerjoin(ApiKey, ApiKey.id == UiSession.key_id)
        .where(UiSession.digest == _digest(token))
    ).first()
    if row is None:
        return None
    ui_session, key = row
    if ui_session.expires_at < utcnow():
        return None
    if ui_session.key_id is None:
        # a session made while auth was off is worth nothing once it is on
        return UiLogin(auth_service.LOCAL_PRINCIPAL, ui_session.csrf_token) if auth_off else None
    if key is None or key.revoked_at is not None:
        return None
    principal = Principal(owner=key.owner, role=Role(key.role), key_id=key.id)
    return UiLogin(principal=principal, csrf_token=ui_session.csrf_token)


def log_out(session: Session, *, token: str | None) -> None:
    if token:
        session.execute(delete(UiSession).where(UiSession.digest == _digest(token)))


def csrf_matches(login: UiLogin, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(login.csrf_token.encode(), presented.encode())
