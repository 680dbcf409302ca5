"""The GPU inventory and its holders."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import PrincipalDep, ReadSessionDep, SettingsDep
from src.features.gpus import service
from src.models.errors import error_responses
from src.models.gpus import GpuHolder, GpuList, GpuRead

router = APIRouter(prefix="/v1", tags=["gpus"], responses=error_responses(401))


@router.get("/gpus", response_model=GpuList)
def list_gpus(session: ReadSessionDep, principal: PrincipalDep, settings: SettingsDep) -> GpuList:
    """Every GPU with what holds it; a user key sees ids of its own runs and deployments only."""
    held = service.visible_holders(session, owner_scope=principal.owner_scope)
    data = [
        GpuRead(**vars(gpu), held=gpu.id in held, holder=_holder(held.get(gpu.id)))
        for gpu in service.inventory(settings.training.gpus)
    ]
    return GpuList(source="nvml" if service.nvml_inventory() is not None else "settings", data=data)


def _holder(visible: tuple[str, str] | None) -> GpuHolder | None:
    return GpuHolder(type=visible[0], id=visible[1]) if visible else None
