"""Principals of recently verified API keys, so most requests authenticate without a query.

An entry lives `ttl` seconds: that is how long another process sharing the
database may still accept a key after it is revoked. The process that revokes a
key forgets it at once (`forget`), and a lookup that raced the revocation cannot
put the old answer back: `remember` only stores what was read under the
generation current when the lookup began. Unknown and revoked keys are never
stored, so a key created a moment ago works at once.

Each app keeps its own cache, registered under its database, so a revocation
through any session on that database in this process (an API call, the `keys`
command run in process, a test) reaches every cache without being handed one.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from cachetools import TTLCache
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from src.features.auth.service import Principal

DEFAULT_MAXSIZE = 10_000


class KeyCache:
    """Verified principals by key digest, each for `ttl` seconds (0 turns the cache off)."""

    def __init__(self, *, ttl: float, maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.ttl = ttl
        self._entries: TTLCache[str, Principal] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl) if ttl > 0 else None
        )
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Read before a lookup and handed to `remember`: any `forget` in between voids the lookup."""
        return self._generation

    def get(self, digest: str) -> Principal | None:
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get(digest)

    def remember(self, digest: str, principal: Principal, *, generation: int) -> None:
        if self._entries is None:
            return
        with self._lock:
            if generation == self._generation:
                self._entries[digest] = principal

    def forget(self, digest: str) -> None:
        """Drop a key at once (it was revoked), and void lookups still in flight."""
        with self._lock:
            self._generation += 1
            if self._entries is not None:
                self._entries.pop(digest, None)

    def __len__(self) -> int:
        with self._lock:
            return 0 if self._entries is None else len(self._entries)


_registry_lock = threading.Lock()
_by_database: dict[str, weakref.WeakSet[KeyCache]] = {}


def key_cache_for(engine: Engine, *, ttl: float) -> KeyCache:
    """A new cache for a store on `engine`, registered so revocations on its database reach it."""
    cache = KeyCache(ttl=ttl)
    with _registry_lock:
        _by_database.setdefault(_database_of(engine), weakref.WeakSet()).add(cache)
    return cache


def key_caches_of(session: Session) -> list[KeyCache]:
    """The caches this process keeps for the database a session is bound to."""
    with _registry_lock:
        return list(_by_database.get(_database_of(session.get_bind()), ()))


def _database_of(bind: Engine | Connection) -> str:
    return bind.engine.url.render_as_string(hide_password=False)
