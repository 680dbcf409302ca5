"""Request dependencies: the store session, settings and the calling principal."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from src.features.auth import service as auth_service
from src.features.auth.service import Principal
from src.models.errors import Forbidden
from src.storage import Store

# where the body guard (app/bodies.py) leaves the principal it authenticated; the scope is per request
PRINCIPAL_SCOPE_KEY = "tuning.principal"
bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request: committed before the response is sent, rolled back on error."""
    with get_store(request).session_scope() as session:
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    """A session for handlers that only read; on SQLite it takes no write lock."""
    with get_store(request).session_scope(read_only=True) as session:
        yield session


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller: the one the body guard authenticated before reading the body, else from the key."""
    authenticated = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if isinstance(authenticated, Principal):
        return authenticated
    return authenticate_request(request, token=credentials.credentials if credentials is not None else None)


def authenticate_request(request: Request, *, token: str | None) -> Principal:
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
    with get_store(request).session_scope(read_only=True) as session:
        return auth_service.authenticate(session, token=token)


def _arrived_on_loopback(request: Request) -> bool:
    server = request.scope.get("server")
    if not server:
        return True
    try:
        return ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return True  # not a TCP socket (a unix socket, or an in-process test client)


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    principal.require_admin()
    return principal


def rate_limited(group: str) -> Callable[..., None]:
    """A dependency that counts the caller's requests against the group's limit."""

    def check(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> None:
        identity = (
            f"key:{principal.key_id}" if principal.key_id is not None else f"ip:{_client_host(request)}"
        )
        request.app.state.rate_limiter.check(group, identity)

    return check


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
