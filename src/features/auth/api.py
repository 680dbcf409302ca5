"""Who the caller is, and API key management for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from app.deps import AdminDep, PrincipalDep, ReadSessionDep, SessionDep, SettingsDep
from src.features.auth import service
from src.models.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPage, ApiKeyRead, WhoAmI
from src.models.errors import error_responses

router = APIRouter(prefix="/v1", tags=["auth"], responses=error_responses(400, 401))
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/me", response_model=WhoAmI)
async def whoami(principal: PrincipalDep, settings: SettingsDep) -> WhoAmI:  # async: no I/O, no worker thread
    """The owner and role of the key in use."""
    return WhoAmI(owner=principal.owner, role=principal.role, auth=settings.auth.mode)


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(403, 422),
)
def create_api_key(body: ApiKeyCreate, session: SessionDep, _admin: AdminDep) -> ApiKeyCreated:
    """Create a key for an owner (admin only); the secret is in this response only."""
    row, key = service.create_key(session, owner=body.owner, role=body.role, name=body.name, source="api")
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)


@router.get("/keys", response_model=ApiKeyPage, responses=error_responses(403, 422))
def list_api_keys(
    session: ReadSessionDep,
    _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="id of the last key seen")] = None,
    include_revoked: bool = False,
) -> ApiKeyPage:
    """List keys, oldest first (admin only); secrets are never shown."""
    rows = service.list_keys(session, include_revoked=include_revoked, limit=limit + 1, after=after)
    return ApiKeyPage(data=[ApiKeyRead.model_validate(r) for r in rows[:limit]], has_more=len(rows) > limit)


@router.delete("/keys/{key_id}", response_model=ApiKeyRead, responses=error_responses(403, 404, 409, 422))
def revoke_api_key(key_id: KeyId, session: SessionDep, admin: AdminDep) -> ApiKeyRead:
    """Revoke a key (admin only, never the key in use); it answers 401 from then on."""
    return ApiKeyRead.model_validate(service.revoke_key(session, key_id=key_id, acting_key_id=admin.key_id))
