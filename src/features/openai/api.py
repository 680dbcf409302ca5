"""OpenAI-compatible routes: `/v1/files`, `/v1/fine_tuning/jobs` and `/v1/models`, over services only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from app.deps import PrincipalDep, ReadDep, ReadSessionDep, SessionDep, SettingsDep, StoreDep, rate_limited
from src.features.datasets.dependencies import (
    MULTIPART_FILE_BODY,
    BackgroundDep,
    DatasetFilesDep,
    RegistryDep,
)
from src.features.openai import service
from src.features.tunings import results
from src.features.tunings import service as tunings_service
from src.features.tunings.dependencies import (
    IdempotencyKey,
    JobDep,
    JobId,
    JobToChangeDep,
    LimitTunings,
    SetupDep,
)
from src.models.common import UUID_PATTERN, ObjectId
from src.models.errors import error_responses
from src.models.openai import (
    OpenAICheckpointList,
    OpenAIEventList,
    OpenAIFile,
    OpenAIFileList,
    OpenAIJob,
    OpenAIJobCreate,
    OpenAIJobList,
)
from src.models.tunings import DeletedObject, ModelList, ModelRead

OPENAI_ERRORS = error_responses(400, 401, 404, 422, 429)
files_router = APIRouter(prefix="/v1/files", tags=["openai"], responses=OPENAI_ERRORS)
jobs_router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["openai"], responses=OPENAI_ERRORS)
models_router = APIRouter(prefix="/v1/models", tags=["models"], responses=error_responses(401, 422))

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


# -- files -----------------------------------------------------------------------------


@files_router.post(
    "",
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
    return await service.upload_file(
        store,
        principal=principal,
        chunks=request.stream(),
        content_type=request.headers.get("content-type"),
        files=files,
        registry=registry,
        max_bytes=settings.uploads.max_upload_bytes,
        inline_limit=settings.uploads.inline_validation_bytes,
        submit=background.submit,
        should_stop=background.should_stop,
    )


@files_router.get("", response_model=OpenAIFileList, dependencies=[LimitFiles])
def list_files(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    after: Annotated[ObjectId | None, Query()] = None,
) -> OpenAIFileList:
    """Files (datasets with a file), newest first."""
    data, has_more = service.list_files(session, principal=principal, limit=limit, after=after)
    return OpenAIFileList(data=data, has_more=has_more)


@files_router.get("/{file_id}", response_model=OpenAIFile, dependencies=[LimitFiles])
def get_file(
    file_id: FileId, session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep
) -> OpenAIFile:
    """A file's metadata: an uploaded training file or a job's result file."""
    return service.describe_file(session, file_id=file_id, principal=principal, layout=setup.layout)


@files_router.get(
    "/{file_id}/content",
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
    found = service.file_content(
        session, file_id=file_id, principal=principal, files=files, layout=setup.layout
    )
    if isinstance(found, service.StoredFile):
        return FileResponse(found.path, filename=found.filename, media_type=found.media_type)
    return StreamingResponse(
        found.chunks(),
        media_type=found.media_type,
        headers={
            "Content-Length": str(found.size),
            "Content-Disposition": f'attachment; filename="{found.filename}"',
        },
    )


@files_router.delete("/{file_id}", response_model=DeletedObject, dependencies=[LimitFiles])
def delete_file(
    file_id: FileId,
    session: SessionDep,
    principal: PrincipalDep,
    files: DatasetFilesDep,
    registry: RegistryDep,
    setup: SetupDep,
) -> DeletedObject:
    """Delete a file (refused while a run uses it; a job's result files go with the job)."""
    service.delete_file(
        session, file_id=file_id, principal=principal, files=files, registry=registry, layout=setup.layout
    )
    return DeletedObject(id=file_id, object="file")


# -- fine-tuning jobs ------------------------------------------------------------------


@jobs_router.post("", response_model=OpenAIJob, dependencies=[LimitTunings])
def create_fine_tuning_job(
    body: OpenAIJobCreate,
    session: SessionDep,
    principal: PrincipalDep,
    setup: SetupDep,
    idempotency_key: IdempotencyKey = None,
) -> OpenAIJob:
    """Create a fine-tuning job (OpenAI's shape)."""
    return service.create_job(
        session, principal=principal, body=body, setup=setup, idempotency_key=idempotency_key
    )


@jobs_router.get("", response_model=OpenAIJobList, dependencies=[LimitTunings])
async def list_fine_tuning_jobs(
    read: ReadDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(pattern=r"^job-[0-9a-f]{12}$")] = None,
) -> OpenAIJobList:
    """Jobs, newest first; page with `after`."""
    return await read(service.job_page, principal=principal, limit=limit, after=after)


@jobs_router.get("/{job_id}", response_model=OpenAIJob, dependencies=[LimitTunings])
async def get_fine_tuning_job(job_id: JobId, read: ReadDep, principal: PrincipalDep) -> OpenAIJob:
    """One job (OpenAI's shape)."""
    return await read(service.get_openai_job, job_id=job_id, principal=principal)


@jobs_router.post("/{job_id}/cancel", response_model=OpenAIJob, dependencies=[LimitTunings])
def cancel_fine_tuning_job(job: JobToChangeDep, session: SessionDep) -> OpenAIJob:
    """Cancel a job; a finished one is a 400."""
    return service.to_openai_job(session, job=tunings_service.cancel(session, job=job))


@jobs_router.get("/{job_id}/events", response_model=OpenAIEventList, dependencies=[LimitTunings])
def list_fine_tuning_events(
    job: JobDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> OpenAIEventList:
    """Log lines and metrics as events, newest first."""
    events, has_more = service.page_after(service.events(session, job=job), after=after, limit=limit)
    return OpenAIEventList(data=events, has_more=has_more)


@jobs_router.get("/{job_id}/checkpoints", response_model=OpenAICheckpointList, dependencies=[LimitTunings])
def list_fine_tuning_checkpoints(
    job: JobDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> OpenAICheckpointList:
    """Checkpoints the job saved, newest step first."""
    items, has_more = service.page_after(service.checkpoints(session, job=job), after=after, limit=limit)
    return OpenAICheckpointList(
        data=items,
        has_more=has_more,
        first_id=items[0].id if items else None,
        last_id=items[-1].id if items else None,
    )


# -- models ----------------------------------------------------------------------------


@models_router.get("", response_model=ModelList)
def list_models(session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep) -> ModelList:
    """Base models (catalog and model roots) and fine-tuned models."""
    return ModelList(data=service.list_models(session, principal=principal, sources=setup.models))


@models_router.get("/{model_id:path}", response_model=ModelRead, responses=error_responses(404))
def get_model(model_id: str, session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep) -> ModelRead:
    """One model by name (names may contain `/`)."""
    return service.get_model(session, model_id=model_id, principal=principal, sources=setup.models)
