"""Dashboard pages: API keys, for admins (see src/features/ui/web.py for what every page shares).

The rules are the API's (src/features/auth/api.py): admin keys only, and no key revokes
itself. A new key's secret is in the answer to its creation and nowhere else: never in a
URL, never on a later page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.deps import ReadDep, SessionDep
from src.features.auth import service as auth_service
from src.features.auth.service import Principal
from src.features.ui.sessions import UiLogin
from src.features.ui.web import SECURITY_HEADERS, UI_PREFIX, ChangeDep, LoginDep, page
from src.models.auth import ApiKeyCreate, Role

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
KeyIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
KEYS_SHOWN = 500
SOURCE = "dashboard"


def validation_messages(exc: ValidationError) -> list[str]:
    """Pydantic's errors as lines a person reads: `field: what is wrong`."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"{where}: {error['msg']}" if where else error["msg"])
    return lines


def _keys_page(session: Session, *, principal: Principal) -> dict[str, Any]:
    principal.require_admin()
    return {
        "keys": auth_service.list_keys(session, include_revoked=True, limit=KEYS_SHOWN),
        "roles": [role.value for role in Role],
        "own_key_id": principal.key_id,
    }


def _render(
    request: Request, login: UiLogin, context: dict[str, Any], *, status_code: int = 200, **shown: Any
) -> HTMLResponse:
    values = {"new_key": None, "new_secret": None, "errors": [], "form": {}, **shown}
    return page(request, login, "keys.html", status_code=status_code, **context, **values)


@router.get("/keys", response_class=HTMLResponse)
async def ui_keys(request: Request, login: LoginDep, read: ReadDep) -> HTMLResponse:
    """Every key (admins only): owner, role, name, hint, created, revoked."""
    return _render(request, login, await read(_keys_page, principal=login.principal))


@router.post("/keys", response_class=HTMLResponse)
def ui_create_key(
    request: Request,
    login: ChangeDep,
    session: SessionDep,
    owner: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = Role.user.value,
    name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """Create a key; its secret is shown on this answer only."""
    login.principal.require_admin()
    try:
        body = ApiKeyCreate(owner=owner.strip(), role=role, name=name.strip() or None)
    except ValidationError as exc:
        form = {"owner": owner, "role": role, "name": name}
        context = _keys_page(session, principal=login.principal)
        return _render(request, login, context, status_code=422, errors=validation_messages(exc), form=form)
    row, secret = auth_service.create_key(
        session, owner=body.owner, role=body.role, name=body.name, source=SOURCE
    )
    context = _keys_page(session, principal=login.principal)
    return _render(request, login, context, new_key=row, new_secret=secret)


@router.post("/keys/{key_id}/revoke")
def ui_revoke_key(key_id: KeyIdPath, login: ChangeDep, session: SessionDep) -> Response:
    """Revoke a key (never the one in use); its dashboard sessions end with it."""
    login.principal.require_admin()
    auth_service.revoke_key(session, key_id=key_id, acting_key_id=login.principal.key_id)
    return RedirectResponse(f"{UI_PREFIX}/keys", status_code=303, headers=SECURITY_HEADERS)
