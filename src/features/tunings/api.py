"""Tuning jobs: the `/v1/tunings.*` API and the OpenAI-compatible files and fine-tuning routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.responses import FileResponse, Response, StreamingResponse

from app.deps import PrincipalDep, ReadSessionDep, SessionDep, SettingsDep, StoreDep, rate_limited
from src.features.datasets import service as datasets_service
from src.features.datasets.api import MULTIPART_FILE_BODY
from src.features.datasets.dependencies import BackgroundDep, DatasetFilesDep, RegistryDep
from src.features.tunings import openai_compat, results, service
from src.features.tunings.dependencies import JobDep, JobId, SetupDep
from src.models.common import UUID_PATTERN, ObjectId
from src.models.datasets import DatasetCreate
from src.models.errors import Invalid, NotFound, error_responses
from src.models.openai import (
    OpenAICheckpointList,
    OpenAIEventList,
    OpenAIFile,
    OpenAIFileList,
    OpenAIJob,
    OpenAIJobCreate,
    OpenAIJobList,
)
from src.models.runs import MetricPoint, MetricSeries, RunStatus
from src.models.tunings import DeletedObject, TuningCreate, TuningJobList, TuningJobRead

router = APIRouter(prefix="/v1", responses=error_responses(400, 401, 404, 422, 429))
LimitTunings = Depends(rate_limited("tunings"))
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="repeat a create safely: same key, same job"),
]
LimitFiles = Depends(rate_limited("files"))
FileId = Annotated[
    str,
    Path(
        pattern=f"{UUID_PATTERN}|{results.RESULT_FILE_ID}",
        max_length=64,
        description="an uploaded file's id, or a job's result file id "
        "(`file-<job>-model`, `file-<job>-metrics`)",
        examples=["01a201cb-1ff8-71b4-aaad-733be0bfbb2f", "file-0123456789ab-metrics"],
    ),
]


@router.post(
    "/tunings.create",
    tags=["tunings"],
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


@router.get(
    "/tunings.get/{job_id}", tags=["tunings"], response_model=TuningJobRead, dependencies=[LimitTunings]
)
def get_tuning(job: JobDep, session: ReadSessionDep) -> TuningJobRead:
    """A job with its status, metrics and result files."""
    return service.to_read(session, job=job)


@router.get("/tunings.list", tags=["tunings"], response_model=TuningJobList, dependencies=[LimitTunings])
def list_tunings(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(pattern=r"^job-[0-9a-f]{12}$")] = None,
    status: RunStatus | None = None,
) -> TuningJobList:
    """Jobs, newest first, with cursor pagination."""
    jobs, has_more = service.list_page(session, principal=principal, limit=limit, after=after, status=status)
    return TuningJobList(data=[service.to_read(session, job=j) for j in jobs], has_more=has_more)


@router.post(
    "/tunings.cancel/{job_id}", tags=["tunings"], response_model=TuningJobRead, dependencies=[LimitTunings]
)
def cancel_tuning(job_id: JobId, session: SessionDep, principal: PrincipalDep) -> TuningJobRead:
    """Cancel a job; a finished job is a 400."""
    job = service.cancel(session, job=service.get(session, job_id=job_id, principal=principal))
    return service.to_read(session, job=job)


@router.delete(
    "/tunings.cancel/{job_id}", tags=["tunings"], response_model=TuningJobRead, dependencies=[LimitTunings]
)
def cancel_tuning_by_delete(job_id: JobId, session: SessionDep, principal: PrincipalDep) -> TuningJobRead:
    """The same cancel, as DELETE (the seed shows both)."""
    return cancel_tuning(job_id, session, principal)


@router.get(
    "/tunings.metrics/{job_id}", tags=["tunings"], response_model=MetricSeries, dependencies=[LimitTunings]
)
def tuning_metrics(job: JobDep, session: ReadSessionDep) -> MetricSeries:
    """The job's metric series."""
    points = [MetricPoint.model_validate(p) for p in service.metric_points(session, job=job)]
    return MetricSeries(run_id=job.run_id, data=points)


@router.delete(
    "/tunings.delete/{job_id}", tags=["tunings"], response_model=DeletedObject, dependencies=[LimitTunings]
)
def delete_tuning(job_id: JobId, session: SessionDep, principal: PrincipalDep) -> DeletedObject:
    """Delete a finished job with its run and files."""
    service.delete(session, job=service.get(session, job_id=job_id, principal=principal))
    return DeletedObject(id=job_id, object="tuning.job")


# -- OpenAI-compatible files --------------------------------------------------------


@router.post(
    "/files",
    tags=["openai"],
    response_model=OpenAIFile,
    responses=error_responses(413),
    openapi_extra=MULTIPART_FILE_BODY,
    dependencies=[LimitFiles],
)
async def create_file(
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    files: DatasetFilesDep,
    registry: RegistryDep,
    background: BackgroundDep,
) -> OpenAIFile:
    """Upload a training file (multipart `file` and `purpose`); it becomes a validated dataset."""
    with store.session_scope() as session:
        dataset = datasets_service.create(session, principal=principal, data=DatasetCreate(name="upload"))
    try:
        row, fields = await datasets_service.receive_upload(
            store,
            dataset=dataset,
            chunks=request.stream(),
            content_type=request.headers.get("content-type"),
            content_length=None,
            files=files,
            registry=registry,
            max_bytes=settings.uploads.max_upload_bytes,
        )
        await datasets_service.validate_or_schedule(
            store,
            row=row,
            files=files,
            inline_limit=settings.uploads.inline_validation_bytes,
            submit=background.submit,
            should_stop=background.should_stop,
        )
    except BaseException:
        with store.session_scope() as session:
            datasets_service.delete(
                session,
                dataset=datasets_service.get(session, dataset_id=dataset.id, principal=principal),
                files=files,
                registry=registry,
            )
        raise
    with store.session_scope() as session:
        return openai_compat.to_openai_file(
            datasets_service.name_after_upload(
                session, dataset_id=dataset.id, filename=row.name, purpose=fields.get("purpose", "fine-tune")
            )
        )


@router.get("/files", tags=["openai"], response_model=OpenAIFileList, dependencies=[LimitFiles])
def list_files(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    after: Annotated[ObjectId | None, Query()] = None,
) -> OpenAIFileList:
    """Files (datasets with a file), newest first."""
    datasets, has_more = datasets_service.list_page(session, principal=principal, limit=limit, after=after)
    return OpenAIFileList(
        data=[openai_compat.to_openai_file(d) for d in datasets if d.files], has_more=has_more
    )


def _result_file(
    session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep, file_id: str
) -> results.ResultFile | None:
    """The job result file `file_id` names, None for an uploaded file's id; 404 if there is none."""
    parsed = results.parse_id(file_id)
    if parsed is None:
        return None
    job_id, kind = parsed
    try:
        job = service.get(session, job_id=job_id, principal=principal)
    except NotFound:
        job = None
    found = results.open_result(session, job=job, kind=kind, layout=setup.layout) if job else None
    if found is None:
        raise NotFound(f"file {file_id!r} not found", param="file_id")
    return found


@router.get("/files/{file_id}", tags=["openai"], response_model=OpenAIFile, dependencies=[LimitFiles])
def get_file(
    file_id: FileId, session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep
) -> OpenAIFile:
    """A file's metadata: an uploaded training file or a job's result file."""
    result = _result_file(session, principal, setup, file_id)
    if result is not None:
        return openai_compat.to_openai_result_file(result)
    return openai_compat.to_openai_file(
        datasets_service.get(session, dataset_id=file_id, principal=principal)
    )


@router.get(
    "/files/{file_id}/content",
    tags=["openai"],
    response_class=Response,
    dependencies=[LimitFiles],
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "the file as uploaded; for a result file the metrics CSV or the model as a tar",
        }
    },
)
def get_file_content(
    file_id: FileId,
    session: ReadSessionDep,
    principal: PrincipalDep,
    files: DatasetFilesDep,
    setup: SetupDep,
) -> Response:
    """The file's bytes; a job's model result is streamed as a tar of its final files."""
    result = _result_file(session, principal, setup, file_id)
    if result is not None:
        return StreamingResponse(
            result.chunks(),
            media_type=result.media_type,
            headers={
                "Content-Length": str(result.size),
                "Content-Disposition": f'attachment; filename="{result.filename}"',
            },
        )
    dataset = datasets_service.get(session, dataset_id=file_id, principal=principal)
    if not dataset.files:
        raise NotFound(f"file {file_id!r} has no content", param="file_id")
    first = dataset.files[0]
    return FileResponse(
        files.path(dataset.id, first.stored_name), filename=first.name, media_type=first.media_type
    )


@router.delete("/files/{file_id}", tags=["openai"], response_model=DeletedObject, dependencies=[LimitFiles])
def delete_file(
    file_id: FileId,
    session: SessionDep,
    principal: PrincipalDep,
    files: DatasetFilesDep,
    registry: RegistryDep,
    setup: SetupDep,
) -> DeletedObject:
    """Delete a file (refused while a run uses it; a job's result files go with the job)."""
    if _result_file(session, principal, setup, file_id) is not None:
        raise Invalid(
            f"{file_id} is a result of a fine-tuning job; it goes when the job is deleted "
            "(DELETE /v1/tunings.delete/{job_id})",
            param="file_id",
            code="result_file",
        )
    dataset = datasets_service.get(session, dataset_id=file_id, principal=principal)
    datasets_service.delete(session, dataset=dataset, files=files, registry=registry)
    return DeletedObject(id=file_id, object="file")


# -- OpenAI-compatible fine-tuning jobs ----------------------------------------------


@router.post("/fine_tuning/jobs", tags=["openai"], response_model=OpenAIJob, dependencies=[LimitTunings])
def create_fine_tuning_job(
    body: OpenAIJobCreate,
    session: SessionDep,
    principal: PrincipalDep,
    setup: SetupDep,
    idempotency_key: IdempotencyKey = None,
) -> OpenAIJob:
    """Create a fine-tuning job (OpenAI's shape)."""
    data = openai_compat.to_tuning_create(body)
    job = service.create(
        session, principal=principal, data=data, setup=setup, idempotency_key=idempotency_key
    )
    job.extra = body.metadata or {}
    return openai_compat.to_openai_job(session, job=job)


@router.get("/fine_tuning/jobs", tags=["openai"], response_model=OpenAIJobList, dependencies=[LimitTunings])
def list_fine_tuning_jobs(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(pattern=r"^job-[0-9a-f]{12}$")] = None,
) -> OpenAIJobList:
    """Jobs, newest first; page with `after`."""
    jobs, has_more = service.list_page(session, principal=principal, limit=limit, after=after)
    return OpenAIJobList(data=[openai_compat.to_openai_job(session, job=j) for j in jobs], has_more=has_more)


@router.get(
    "/fine_tuning/jobs/{job_id}", tags=["openai"], response_model=OpenAIJob, dependencies=[LimitTunings]
)
def get_fine_tuning_job(job: JobDep, session: ReadSessionDep) -> OpenAIJob:
    """One job (OpenAI's shape)."""
    return openai_compat.to_openai_job(session, job=job)


@router.post(
    "/fine_tuning/jobs/{job_id}/cancel",
    tags=["openai"],
    response_model=OpenAIJob,
    dependencies=[LimitTunings],
)
def cancel_fine_tuning_job(job_id: JobId, session: SessionDep, principal: PrincipalDep) -> OpenAIJob:
    """Cancel a job; a finished one is a 400."""
    job = service.cancel(session, job=service.get(session, job_id=job_id, principal=principal))
    return openai_compat.to_openai_job(session, job=job)


@router.get(
    "/fine_tuning/jobs/{job_id}/events",
    tags=["openai"],
    response_model=OpenAIEventList,
    dependencies=[LimitTunings],
)
def list_fine_tuning_events(
    job: JobDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> OpenAIEventList:
    """Log lines and metrics as events, newest first."""
    events, has_more = openai_compat.page_after(
        openai_compat.events(session, job=job), after=after, limit=limit
    )
    return OpenAIEventList(data=events, has_more=has_more)


@router.get(
    "/fine_tuning/jobs/{job_id}/checkpoints",
    tags=["openai"],
    response_model=OpenAICheckpointList,
    dependencies=[LimitTunings],
)
def list_fine_tuning_checkpoints(
    job: JobDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> OpenAICheckpointList:
    """Checkpoints the job saved, newest step first."""
    items, has_more = openai_compat.page_after(
        openai_compat.checkpoints(session, job=job), after=after, limit=limit
    )
    return OpenAICheckpointList(
        data=items,
        has_more=has_more,
        first_id=items[0].id if items else None,
        last_id=items[-1].id if items else None,
    )
