"""Who the caller is."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import PrincipalDep, SettingsDep
from src.models.auth import WhoAmI
from src.models.errors import error_responses

router = APIRouter(prefix="/v1", tags=["auth"], responses=error_responses(401))


@router.get("/me", response_model=WhoAmI)
def whoami(principal: PrincipalDep, settings: SettingsDep) -> WhoAmI:
    """The owner and role of the key in use."""
    return WhoAmI(owner=principal.owner, role=principal.role, auth=settings.auth.mode)
