"""Tuning jobs: the `/v1/tunings.*` API (OpenAI's shape of the same jobs is in `src/features/openai/`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import PrincipalDep, ReadDep, ReadSessionDep, SessionDep
from src.features.tunings import service
from src.features.tunings.dependencies import (
    IdempotencyKey,
    JobDep,
    JobId,
    JobToChangeDep,
    LimitTunings,
    SetupDep,
)
from src.models.errors import error_responses
from src.models.runs import MetricPoint, MetricSeries, RunStatus
from src.models.tunings import DeletedObject, TuningCreate, TuningJobList, TuningJobRead

router = APIRouter(prefix="/v1", tags=["tunings"], responses=error_responses(400, 401, 404, 422, 429))


@router.post(
    "/tunings.create",
    status_code=status.HTTP_201_CREATED,
    response_model=TuningJobRead,
    dependencies=[LimitTunings],
)
def create_tuning(
    body: TuningCreate,
    session: SessionDep,
    principal: PrincipalDep,
    setup: SetupDep,
    idempotency_key: IdempotencyKey = None,
) -> TuningJobRead:
    """Start a fine-tuning job: one call, and a fine-tuned model comes out."""
    job = service.create(
        session, principal=principal, data=body, setup=setup, idempotency_key=idempotency_key
    )
    return service.to_read(session, job=job)


@router.get("/tunings.get/{job_id}", response_model=TuningJobRead, dependencies=[LimitTunings])
async def get_tuning(job_id: JobId, read: ReadDep, principal: PrincipalDep) -> TuningJobRead:
    """A job with its status, metrics and result files."""
    return await read(service.get_read, job_id=job_id, principal=principal)


@router.get("/tunings.list", response_model=TuningJobList, dependencies=[LimitTunings])
async def list_tunings(
    read: ReadDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(pattern=r"^job-[0-9a-f]{12}$")] = None,
    status: RunStatus | None = None,
) -> TuningJobList:
    """Jobs, newest first, with cursor pagination."""
    return await read(service.page, principal=principal, limit=limit, after=after, status=status)


@router.post("/tunings.cancel/{job_id}", response_model=TuningJobRead, dependencies=[LimitTunings])
def cancel_tuning(job: JobToChangeDep, session: SessionDep) -> TuningJobRead:
    """Cancel a job; a finished job is a 400."""
    job = service.cancel(session, job=job)
    return service.to_read(session, job=job)


@router.delete("/tunings.cancel/{job_id}", response_model=TuningJobRead, dependencies=[LimitTunings])
def cancel_tuning_by_delete(job: JobToChangeDep, session: SessionDep) -> TuningJobRead:
    """The same cancel, as DELETE (the seed shows both)."""
    return cancel_tuning(job, session)


@router.get("/tunings.metrics/{job_id}", response_model=MetricSeries, dependencies=[LimitTunings])
def tuning_metrics(job: JobDep, session: ReadSessionDep) -> MetricSeries:
    """The job's metric series."""
    points = [MetricPoint.model_validate(p) for p in service.metric_points(session, job=job)]
    return MetricSeries(run_id=job.run_id, data=points)


@router.delete("/tunings.delete/{job_id}", response_model=DeletedObject, dependencies=[LimitTunings])
def delete_tuning(job: JobToChangeDep, session: SessionDep) -> DeletedObject:
    """Delete a finished job with its run and files."""
    job_id = job.id
    service.delete(session, job=job)
    return DeletedObject(id=job_id, object="tuning.job")
