"""Base models this host has, and the fine-tuned models jobs produced."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.deps import PrincipalDep, ReadSessionDep
from src.features.models import service
from src.features.tunings import service as tunings_service
from src.models.errors import NotFound, error_responses
from src.models.tunings import ModelList, ModelRead

router = APIRouter(prefix="/v1", tags=["models"], responses=error_responses(401, 422))


def _all_models(request: Request, session: ReadSessionDep, principal: PrincipalDep) -> list[ModelRead]:
    sources = request.app.state.tuning_setup.models
    found = [
        ModelRead(id=name, created=int(path.stat().st_mtime), owned_by="system", kind="base", path=str(path))
        for name, path in service.base_models(sources=sources).items()
    ]
    for job in tunings_service.fine_tuned_models(session, principal=principal):
        finished = job.run.finished_at or job.created_at
        found.append(
            ModelRead(
                id=job.fine_tuned_model,
                created=int(finished.timestamp()),
                owned_by=job.owner,
                kind="fine-tuned",
                path=job.run.output_dir,
            )
        )
    return found


@router.get("/models", response_model=ModelList)
def list_models(request: Request, session: ReadSessionDep, principal: PrincipalDep) -> ModelList:
    """Base models (catalog and model roots) and fine-tuned models."""
    return ModelList(data=_all_models(request, session, principal))


@router.get("/models/{model_id:path}", response_model=ModelRead, responses=error_responses(404))
def get_model(model_id: str, request: Request, session: ReadSessionDep, principal: PrincipalDep) -> ModelRead:
    """One model by name (names may contain `/`)."""
    for model in _all_models(request, session, principal):
        if model.id == model_id:
            return model
    raise NotFound(f"model {model_id!r} not found", param="model_id")
