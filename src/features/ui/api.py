"""Dashboard routes: login and logout, and the pages about runs (overview, runs, run, compare).

Other features' pages live beside this in `<part>_api.py`. Every route here is outside the
OpenAPI document (`include_in_schema=False`): they answer HTML for people, not JSON for clients.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.deps import StoreDep
from src.features.ui import sessions
from src.features.ui.web import (
    LOGIN_PATH,
    SECURITY_HEADERS,
    UI_PREFIX,
    ChangeDep,
    LoginDep,
    page,
    safe_next,
)
from src.models.errors import Unauthenticated

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def ui_login_page(request: Request, next: Annotated[str | None, Query(max_length=512)] = None) -> HTMLResponse:
    """The login form."""
    auth_off = request.app.state.settings.auth.mode == "off"
    return page(request, None, "login.html", next=safe_next(next), auth_off=auth_off, message=None)


@router.post("/login", response_class=HTMLResponse)
def ui_log_in(
    request: Request,
    store: StoreDep,
    key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Trade an API key for a session cookie (HttpOnly, SameSite=Strict); the key is not kept."""
    auth_off = request.app.state.settings.auth.mode == "off"
    try:
        with store.session_scope() as session:
            token, _login = sessions.log_in(session, key=key.strip(), auth_off=auth_off)
    except Unauthenticated as exc:
        return page(
            request, None, "login.html", status_code=401, next=safe_next(next), auth_off=auth_off, message=exc.message
        )
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=sessions.SESSION_HOURS * 3600,
        path=UI_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def ui_log_out(request: Request, store: StoreDep, _login: ChangeDep) -> Response:
    """End the session: its row is deleted, so the cookie is worth nothing even if kept."""
    with store.session_scope() as session:
        sessions.log_out(session, token=request.cookies.get(sessions.COOKIE_NAME))
    response = RedirectResponse(LOGIN_PATH, status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(sessions.COOKIE_NAME, path=UI_PREFIX)
    return response
