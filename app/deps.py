"""Request dependencies: the store session, settings and the calling principal."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from src.features.auth import service as auth_service
from src.features.auth.cache import KeyCache
from src.features.auth.service import Principal
from src.models.errors import Forbidden
from src.storage import Store
from src.storage.db import end_session

# where the body guard (app/bodies.py) leaves the principal it authenticated; the scope is per request
PRINCIPAL_SCOPE_KEY = "tuning.principal"
bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")
# the Tinker-compatible routes, where the tinker SDK sends its key as `X-API-Key`
TINKER_PREFIX = "/api/v1"
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key, as the tinker SDK sends it (`/api/v1/` only)"
)


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request: committed before the response is sent, rolled back on error."""
    async with _request_session(request, read_only=False) as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for handlers that only read; on SQLite it takes no write lock."""
    async with _request_session(request, read_only=True) as session:
        yield session


@asynccontextmanager
async def _request_session(request: Request, *, read_only: bool) -> AsyncIterator[Session]:
    """A request's session, held by at most `SessionGate.capacity` requests at once.

    A request holds its transaction across several worker threads: a load-or-404
    dependency, the handler, then FastAPI's response validation, each waiting for a
    free thread. Without a bound, a burst fills every thread with requests waiting
    for SQLite's write lock (or a pooled connection) while the holder waits for a
    thread to finish its response: nothing moves until the busy timeout fails them
    all. Waiting here costs no thread, and the gate is smaller than the thread pool
    and the connection pool, so a holder always finds a thread and a connection.
    """
    gate: SessionGate = request.app.state.session_gate
    async with gate.admit(request.scope):
        session = get_store(request).session(read_only=read_only)
        try:
            yield session
        except BaseException:
            await gate.end(session, commit=False, failed=True)
            raise
        await gate.end(session, commit=not read_only)


class SessionGate:
    """How many requests may hold store sessions at once, and threads of their own to end them.

    A request counts once however many sessions it opens (a write session and a
    read-only one, say), so it can never wait on the gate for a permit it holds.
    """

    _HELD = "tuning.session_permit"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._permits = anyio.Semaphore(capacity)
        # commits never wait behind the handler threads they would unblock
        self._exit_threads = anyio.CapacityLimiter(capacity)

    @asynccontextmanager
    async def admit(self, scope: MutableMapping[str, Any]) -> AsyncIterator[None]:
        held = scope.get(self._HELD, 0)
        if held == 0:
            await self._permits.acquire()
        scope[self._HELD] = held + 1
        try:
            yield
        finally:
            scope[self._HELD] -= 1
            if scope[self._HELD] == 0:
                self._permits.release()

    async def end(self, session: Session, *, commit: bool, failed: bool = False) -> None:
        """End the session (see `end_session`) on a thread no handler can be holding."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(
                functools.partial(end_session, session, commit=commit, failed=failed),
                limiter=self._exit_threads,
            )


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller: the one the body guard authenticated before reading the body, else from the key.

    A key verified moments ago is answered from the key cache on the event loop;
    only a lookup in the store takes a worker thread.
    """
    authenticated = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(authenticated, Principal):
        return authenticated
    return await authenticate_request(
        request, token=credentials.credentials if credentials is not None else None
    )


async def get_principal_by_api_key(
    request: Request,
    api_key: Annotated[str | None, Depends(api_key_header)],  # declares the scheme in the OpenAPI document
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """`get_principal` for the Tinker-compatible routes: `X-API-Key`, or a bearer key."""
    authenticated = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(authenticated, Principal):
        return authenticated
    bearer = credentials.credentials if credentials is not None else None
    # an empty X-API-Key header is a key presented (and refused), not an absent one
    return await authenticate_presented(request, request.headers.get("x-api-key"), bearer)


async def authenticate_presented(request: Request, *tokens: str | None) -> Principal:
    """The caller of the keys a request presents (an `X-API-Key` and a bearer key, say).

    Every key presented must be valid: a request that sends a bad key beside a good
    one is refused, not let through on the good one.
    """
    presented = [token for token in tokens if token is not None]
    if len(presented) <= 1:
        return await authenticate_request(request, token=presented[0] if presented else None)
    principals = [await authenticate_request(request, token=token) for token in presented]
    return principals[0]


async def authenticate_request(request: Request, *, token: str | None) -> Principal:
    """The caller of a bearer token; with auth off, a local admin (loopback only)."""
    settings = get_settings_dep(request)
    if settings.auth.mode == "off":
        if not settings.auth.allow_insecure and not _arrived_on_loopback(request):
            raise Forbidden(
                "auth is off, so this server only answers on loopback "
                "(set TUNING_ALLOW_INSECURE=1 to override)",
                code="insecure_bind",
            )
        return auth_service.LOCAL_PRINCIPAL
    cache = get_key_cache(request)
    cached = auth_service.cached_principal(token, cache=cache)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(_authenticate_in_store, get_store(request), token, cache)


def _authenticate_in_store(store: Store, token: str | None, cache: KeyCache) -> Principal:
    with store.session_scope(read_only=True) as session:
        return auth_service.authenticate(session, token=token, cache=cache)


def get_key_cache(request: Request) -> KeyCache:
    return request.app.state.key_cache


def _arrived_on_loopback(request: Request) -> bool:
    server = request.scope.get("server")
    if not server:
        return True
    try:
        return ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return True  # not a TCP socket (a unix socket, or an in-process test client)


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    principal.require_admin()
    return principal


def rate_limited(group: str) -> Callable[..., Awaitable[None]]:
    """A dependency that counts the caller's requests against the group's limit."""

    async def check(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> None:
        identity = (
            f"key:{principal.key_id}" if principal.key_id is not None else f"ip:{_client_host(request)}"
        )
        await request.app.state.rate_limiter.check(group, identity)

    return check


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _settings_dependency(request: Request) -> Settings:
    # async: FastAPI would hand a plain function to a worker thread, for an attribute read
    return get_settings_dep(request)


async def _store_dependency(request: Request) -> Store:
    return get_store(request)


class Reader:
    """`await read(fn, *args, **kwargs)`: `fn(session, ...)` with a read-only session, in one worker thread.

    A GET handler is `async` and hands its whole read to the reader: the session
    is opened, used, turned into the response model and closed inside that one
    thread, so a read costs one hop off the event loop instead of one per sync
    dependency, handler and response validation. At most `threads` reads run at
    once: they are short and CPU-bound, and more threads only contend for the GIL
    (measured in bench/api_throughput.py). Anything that may wait (a follow, a
    long poll) does not belong here.
    """

    def __init__(self, store: Store, *, threads: int) -> None:
        self._store = store
        self._limiter = anyio.CapacityLimiter(threads)

    async def __call__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(
            functools.partial(self._run, fn, *args, **kwargs), limiter=self._limiter
        )

    def _run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        with self._store.session_scope(read_only=True) as session:
            return fn(session, *args, **kwargs)


async def get_reader(request: Request) -> Reader:
    return request.app.state.reader


ReadDep = Annotated[Reader, Depends(get_reader)]
SettingsDep = Annotated[Settings, Depends(_settings_dependency)]
StoreDep = Annotated[Store, Depends(_store_dependency)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
ApiKeyPrincipalDep = Annotated[Principal, Depends(get_principal_by_api_key)]
AdminDep = Annotated[Principal, Depends(require_admin)]
