"""Authenticate before a request body is read, and cap every body by size.

FastAPI reads and parses a JSON body before it resolves any dependency, so a
caller without a key could make the server hold a body of any size before the
401. This middleware sits in front of the router: a request that carries a
body must authenticate first (no route takes a body from anonymous callers),
and the body is then capped as the app reads it — at once from
`Content-Length`, or chunk by chunk when the length is not declared.
"""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import PRINCIPAL_SCOPE_KEY, TINKER_PREFIX, authenticate_presented
from app.errors import BodyTooLarge, app_error_response
from src.features.auth.service import Principal
from src.features.ui.web import LOGIN_PATH, authenticate_ui, is_ui_path
from src.features.ui.web import error_page as ui_error_page
from src.models.errors import AppError

# Routes that stream a dataset file to disk: they enforce TUNING_MAX_UPLOAD_BYTES themselves.
STREAMED_UPLOAD_ROUTES = frozenset({"upload_dataset_file", "create_file", "ui_upload_dataset"})
# the dashboard's login form: a key and a path to go back to
LOGIN_BODY_BYTES = 4096


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when it sends none (chunked) or an unreadable one."""
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def carries_body(scope: Scope) -> bool:
    """True when the request says a body follows (a non-zero length, or a transfer encoding)."""
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return _header(scope, b"transfer-encoding") is not None


def bearer_token(scope: Scope) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, read as FastAPI's HTTPBearer reads it."""
    authorization = (_header(scope, b"authorization") or b"").decode("latin-1")
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" and token else None


def tinker_api_key(scope: Scope) -> str | None:
    """The `X-API-Key` header the tinker SDK sends, on the Tinker-compatible routes only."""
    if not scope.get("path", "").startswith(TINKER_PREFIX + "/"):
        return None
    value = _header(scope, b"x-api-key")
    return value.decode("latin-1") if value is not None else None  # empty: presented, and refused


class BodyGuardMiddleware:
    """Answers 401 before reading a body sent without a valid key, and 413 past `max_body_bytes`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not carries_body(scope):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
        except AppError as exc:
            response = (
                ui_error_page(Request(scope), exc) if is_ui_path(scope["path"]) else app_error_response(exc)
            )
            await response(scope, receive, send)
            return
        if principal is None:  # the dashboard's login form: a small body from anyone
            await self.app(scope, self._capped(scope, receive, cap=LOGIN_BODY_BYTES), send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, self._capped(scope, receive), send)

    @staticmethod
    async def _authenticate(scope: Scope) -> Principal | None:
        """The caller of a request with a body: its key, or on the dashboard its session cookie."""
        path = scope["path"]
        if not is_ui_path(path):
            return await authenticate_presented(Request(scope), tinker_api_key(scope), bearer_token(scope))
        if path == LOGIN_PATH:
            return None
        return (await authenticate_ui(Request(scope))).principal

    def _capped(self, scope: Scope, receive: Receive, cap: int | None = None) -> Receive:
        """`receive`, refusing the body once it passes the cap of the route that reads it (or `cap`)."""
        fixed_cap = cap
        received = 0
        first = True

        async def capped_receive() -> Message:
            nonlocal cap, received, first
            if first:
                # the router has matched by now, so the reading route is known
                first = False
                route_name = getattr(scope.get("route"), "name", None)
                cap = None if route_name in STREAMED_UPLOAD_ROUTES else self.max_body_bytes
                cap = fixed_cap or cap
                length = declared_length(scope)
                if cap is not None and length is not None and length > cap:
                    raise BodyTooLarge(cap)
            message = await receive()
            if cap is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        return capped_receive
