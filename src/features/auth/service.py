"""API keys: creation, lookup by SHA-256 digest, revocation, bootstrap."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from src.features.auth.cache import KeyCache, key_caches_of
from src.models.auth import OWNER_PATTERN, Role
from src.models.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from src.storage.tables import ApiKey
from src.storage.types import utcnow
from src.utils.files import write_file_atomic

logger = logging.getLogger(__name__)

KEY_PREFIX = "tsk-"
TINKER_KEY_PREFIX = "tml-"  # the tinker SDK refuses keys without it (see docs/tinker-wire.md)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the owner a key belongs to and its role."""

    owner: str
    role: Role
    key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def owner_scope(self) -> str | None:
        """The owner whose resources this caller may see; None means all of them."""
        return None if self.is_admin else self.owner

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this action needs an admin key", code="admin_required")


LOCAL_PRINCIPAL = Principal(owner="local", role=Role.admin)


def digest_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key(prefix: str = KEY_PREFIX) -> str:
    """A fresh random key with a recognisable prefix."""
    return prefix + secrets.token_urlsafe(32)


def _hint(key: str) -> str:
    return f"...{key[-4:]}"


def create_key(
    session: Session,
    *,
    owner: str,
    role: Role,
    name: str | None = None,
    key: str | None = None,
    source: str = "cli",
    prefix: str = KEY_PREFIX,
) -> tuple[ApiKey, str]:
    """Store a new key (random, starting with `prefix`, unless given); returns its row and the plain key."""
    if not re.match(OWNER_PATTERN, owner):
        raise Invalid(f"owner {owner!r} is not a valid owner name", param="owner")
    key = key or generate_key(prefix)
    if len(key) < 8:
        raise Invalid("an API key needs at least 8 characters", param="key")
    digest = digest_key(key)
    if session.scalar(select(ApiKey.id).where(ApiKey.digest == digest)) is not None:
        raise Invalid("this key already exists", param="key", code="duplicate_key")
    row = ApiKey(digest=digest, hint=_hint(key), owner=owner, role=role.value, name=name, source=source)
    session.add(row)
    session.flush()
    return row, key


def list_keys(
    session: Session, *, include_revoked: bool = False, limit: int | None = None, after: int | None = None
) -> list[ApiKey]:
    """Keys oldest first; `after` is the id of the last key already seen."""
    stmt = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    if after is not None:
        stmt = stmt.where(ApiKey.id > after)
    return list(session.scalars(stmt))


def revoke_key(session: Session, *, key_id: int, acting_key_id: int | None = None) -> ApiKey:
    """Mark a key revoked; it answers 401 from then on. A caller cannot revoke its own key.

    This process's key cache forgets the key now and again once the revocation
    commits, so a lookup that read the row before the commit cannot keep it
    alive; other processes stop trusting it within their cache's ttl.
    """
    if acting_key_id is not None and key_id == acting_key_id:
        raise Conflict(
            "a key cannot revoke itself; use another admin key", param="key_id", code="self_revoke"
        )
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found", param="key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    _forget_now_and_on_commit(session, row.digest)
    return row


def _forget_now_and_on_commit(session: Session, digest: str) -> None:
    caches = key_caches_of(session)
    if not caches:
        return

    def forget(_session: Session | None = None) -> None:
        for cache in caches:
            cache.forget(digest)

    forget()
    event.listen(session, "after_commit", forget, once=True)


def cached_principal(token: str | None, *, cache: KeyCache) -> Principal | None:
    """The principal of a key verified less than `cache.ttl` seconds ago, without touching the store."""
    return cache.get(digest_key(token)) if token else None


def authenticate(session: Session, *, token: str | None, cache: KeyCache | None = None) -> Principal:
    """The principal of a bearer token, or 401; a valid key is remembered in `cache`."""
    if not token:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    digest = digest_key(token)
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    generation = cache.generation if cache is not None else 0
    row = session.scalar(select(ApiKey).where(ApiKey.digest == digest))
    if row is None or not hmac.compare_digest(row.digest, digest):
        raise Unauthenticated("invalid API key")
    if row.revoked_at is not None:
        raise Unauthenticated("this API key has been revoked", code="revoked_api_key")
    principal = Principal(owner=row.owner, role=Role(row.role), key_id=row.id)
    if cache is not None:
        cache.remember(digest, principal, generation=generation)
    return principal


def sync_bootstrap_keys(session: Session, *, keys: Iterable[tuple[str, str, Role]]) -> int:
    """Create the keys given in settings that the store does not have yet; returns how many."""
    created = 0
    for key, owner, role in keys:
        if session.scalar(select(ApiKey.id).where(ApiKey.digest == digest_key(key))) is None:
            create_key(session, owner=owner, role=role, key=key, name="from settings", source="settings")
            created += 1
    return created


def ensure_first_admin_key(session: Session, *, key_file: Path) -> Path | None:
    """On a store without any usable key, create an admin key and write it to `key_file` (0600).

    Returns the file's path when a key was made, so a fresh install is usable
    without putting a secret in a log line.
    """
    if session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)) is not None:
        return None
    _row, key = create_key(session, owner="admin", role=Role.admin, name="first start", source="bootstrap")
    write_file_atomic(key_file, (key + "\n").encode(), mode=0o600)
    return key_file
