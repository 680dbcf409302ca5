"""The GPU inventory and its holders."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import PrincipalDep, ReadSessionDep, SettingsDep
from src.features.gpus import service
from src.models.errors import error_responses
from src.models.gpus import GpuHolder, GpuList, GpuRead

router = APIRouter(prefix="/v1", tags=["gpus"], responses=error_responses(401))


@router.get("/gpus", response_model=GpuList)
def list_gpus(session: ReadSessionDep, _principal: PrincipalDep, settings: SettingsDep) -> GpuList:
    """Every GPU with the run or deployment that holds it."""
    held = service.holders(session)
    gpus = service.inventory(settings.training.gpus)
    data = [
        GpuRead(
            **vars(gpu),
            holder=GpuHolder(type=held[gpu.id].holder_type, id=held[gpu.id].holder_id)
            if gpu.id in held
            else None,
        )
        for gpu in gpus
    ]
    return GpuList(source="nvml" if service.nvml_inventory() is not None else "settings", data=data)
