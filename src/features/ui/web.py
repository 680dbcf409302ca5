"""What every dashboard page shares: the templates, the login dependency, CSRF, error pages.

A page handler depends on `LoginDep` (a change also on `ChangeDep`) and returns
`page(request, login, "template.html", ...)`. A visitor without a session is sent to the
login page; an htmx request for a fragment gets 401 with `HX-Redirect`, so the whole page
goes there instead of a login form landing inside a table.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.deps import authenticate_request
from src.features.ui import sessions
from src.features.ui.sessions import UiLogin
from src.models.errors import AppError, Forbidden, Unauthenticated
from src.storage import Store

UI_PREFIX = "/ui"
LOGIN_PATH = f"{UI_PREFIX}/login"
UI_LOGIN_SCOPE_KEY = "tuning.ui_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# Everything a page loads comes from this host; no inline script runs (the pages' code is in
# app/static/ui), so an injected <script> would not. Styles may be inline: uPlot sizes its
# canvas with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class LoginRequired(Unauthenticated):
    """No dashboard session, an expired one, or one whose key was revoked."""

    def __init__(self) -> None:
        super().__init__("log in to the dashboard first", code="login_required")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


templates.env.filters.update(
    ago=_ago, iso=_iso, size=_size, number=_number, urlpart=lambda v: quote(str(v), safe="")
)


def _store(request: Request) -> Store:
    return request.app.state.store


def _auth_off(request: Request) -> bool:
    return request.app.state.settings.auth.mode == "off"


def _lookup(store: Store, token: str | None, auth_off: bool) -> UiLogin | None:
    with store.session_scope(read_only=True) as session:
        return sessions.current(session, token=token, auth_off=auth_off)


async def authenticate_ui(request: Request) -> UiLogin:
    """The dashboard login of this request's cookie, or `LoginRequired`."""
    known = request.scope.get(UI_LOGIN_SCOPE_KEY)
    if isinstance(known, UiLogin):
        return known
    token = request.cookies.get(sessions.COOKIE_NAME)
    login = await anyio.to_thread.run_sync(_lookup, _store(request), token, _auth_off(request))
    if login is None:
        raise LoginRequired()
    if login.principal.key_id is None:
        await check_local_admin(request)
    request.scope[UI_LOGIN_SCOPE_KEY] = login
    return login


async def check_local_admin(request: Request) -> None:
    """With auth off, the dashboard is the local admin's, on the terms the API sets:
    only on loopback unless TUNING_ALLOW_INSECURE (a 403 otherwise)."""
    await authenticate_request(request, token=None)


def same_origin(request: Request) -> bool:
    """A change must come from a page of this service: its Origin (or Referer) is this host."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True  # SameSite=Strict already kept the cookie off cross-site requests
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def checked_change(request: Request, login: Annotated[UiLogin, Depends(authenticate_ui)]) -> UiLogin:
    """The login of a request that changes something, once its CSRF token and origin check out."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not sessions.csrf_matches(login, presented) or not same_origin(request):
        raise Forbidden(
            "this page is out of date or came from elsewhere: reload it and try again", code="csrf_failed"
        )
    return login


LoginDep = Annotated[UiLogin, Depends(authenticate_ui)]
ChangeDep = Annotated[UiLogin, Depends(checked_change)]


def page(
    request: Request, login: UiLogin | None, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A rendered page or fragment with the dashboard's security headers."""
    response = templates.TemplateResponse(
        request,
        template,
        {
            "login": login,
            "csrf_token": login.csrf_token if login else "",
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a dashboard path of this host, never another site."""
    if not value or not value.startswith(UI_PREFIX + "/") or value.startswith("//") or "\\" in value:
        return UI_PREFIX + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return UI_PREFIX + "/"
    return value


def error_page(request: Request, exc: AppError) -> Response:
    """A domain error on a dashboard path: the login page for 401, else a page with the message."""
    if isinstance(exc, Unauthenticated):
        target = f"{LOGIN_PATH}?next={quote(request.url.path)}"
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target, **SECURITY_HEADERS})
        if request.method == "GET":
            return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    login = request.scope.get(UI_LOGIN_SCOPE_KEY)
    template = "fragments/error.html" if is_htmx(request) else "error.html"
    return page(
        request,
        login if isinstance(login, UiLogin) else None,
        template,
        status_code=exc.status_code,
        status=exc.status_code,
        message=exc.message,
    )


def is_ui_path(path: str) -> bool:
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
