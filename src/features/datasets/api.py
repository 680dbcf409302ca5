"""Dataset routes: records, streamed file uploads, preview, content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import FileResponse

from app.deps import PrincipalDep, ReadSessionDep, SessionDep, SettingsDep, StoreDep
from src.features.datasets import service
from src.features.datasets.dependencies import (
    MULTIPART_FILE_BODY,
    BackgroundDep,
    DatasetDep,
    DatasetFilesDep,
    DatasetToChangeDep,
    RegistryDep,
    receive_file,
)
from src.models.common import Message, ObjectId
from src.models.datasets import (
    DatasetCreate,
    DatasetCreated,
    DatasetPage,
    DatasetPreview,
    DatasetRecord,
    DatasetStatus,
    DatasetUpdate,
    UploadAborted,
    UploadResult,
)
from src.models.errors import error_responses

router = APIRouter(prefix="/v1", tags=["datasets"], responses=error_responses(400, 401, 404, 422))
UploadId = Annotated[ObjectId, Path(description="the upload's id")]


@router.post("/datasets", status_code=status.HTTP_201_CREATED, response_model=DatasetCreated)
def create_dataset(body: DatasetCreate, session: SessionDep, principal: PrincipalDep) -> DatasetCreated:
    """Create an empty dataset; upload files to it next."""
    dataset = service.create(session, principal=principal, data=body)
    return DatasetCreated(id=dataset.id, created_at=dataset.created_at)


@router.get("/datasets", response_model=DatasetPage)
def list_datasets(
    session: ReadSessionDep,
    principal: PrincipalDep,
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[ObjectId | None, Query(description="id of the last dataset seen")] = None,
    status: DatasetStatus | None = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> DatasetPage:
    """List datasets, newest first, with cursor pagination."""
    rows, has_more = service.list_page(
        session, principal=principal, limit=limit, after=after, status=status, name=name
    )
    return DatasetPage(data=[service.to_record(d, registry=registry) for d in rows], has_more=has_more)


@router.get("/datasets/{dataset_id}", response_model=DatasetRecord)
def get_dataset(dataset: DatasetDep, registry: RegistryDep) -> DatasetRecord:
    """A dataset with its files, validation reports and uploads in flight."""
    return service.to_record(dataset, registry=registry)


@router.patch("/datasets/{dataset_id}", response_model=DatasetRecord)
def update_dataset(
    dataset: DatasetToChangeDep,
    body: DatasetUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    registry: RegistryDep,
) -> DatasetRecord:
    """Rename, describe, or link/unlink a training config."""
    service.update(session, dataset=dataset, data=body, principal=principal)
    return service.to_record(dataset, registry=registry)


@router.delete("/datasets/{dataset_id}", response_model=Message)
def delete_dataset(
    dataset: DatasetToChangeDep, session: SessionDep, files: DatasetFilesDep, registry: RegistryDep
) -> Message:
    """Delete a dataset and its files; refused while an unfinished run uses it."""
    dataset_id = dataset.id
    service.delete(session, dataset=dataset, files=files, registry=registry)
    return Message(detail=f"dataset {dataset_id!r} deleted")


@router.put(
    "/datasets/{dataset_id}/files",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResult,
    responses=error_responses(413),
    openapi_extra=MULTIPART_FILE_BODY,
)
async def upload_dataset_file(
    request: Request,
    dataset: DatasetDep,
    store: StoreDep,
    settings: SettingsDep,
    files: DatasetFilesDep,
    registry: RegistryDep,
    background: BackgroundDep,
) -> UploadResult:
    """Upload a file (multipart field `file`); it is streamed to disk, hashed and validated."""
    _row, result = await receive_file(
        request,
        store,
        dataset=dataset,
        settings=settings,
        files=files,
        registry=registry,
        background=background,
    )
    return result


@router.get(
    "/datasets/{dataset_id}/files/{upload_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the file as uploaded",
        }
    },
)
def download_dataset_file(dataset: DatasetDep, upload_id: UploadId, files: DatasetFilesDep) -> FileResponse:
    """Stream an uploaded file back."""
    file = service.get_file(dataset=dataset, upload_id=upload_id)
    return FileResponse(
        files.path(dataset.id, file.stored_name), filename=file.name, media_type=file.media_type
    )


@router.get("/datasets/{dataset_id}/preview", response_model=DatasetPreview)
def preview_dataset(
    dataset: DatasetDep, files: DatasetFilesDep, limit: Annotated[int, Query(ge=1, le=100)] = 5
) -> DatasetPreview:
    """The first valid records of the dataset, parsed."""
    return DatasetPreview(data=service.preview(dataset, files=files, limit=limit))


@router.delete("/datasets/{dataset_id}/files/{upload_id}", response_model=Message)
def delete_dataset_file(
    dataset: DatasetToChangeDep, upload_id: UploadId, session: SessionDep, files: DatasetFilesDep
) -> Message:
    """Remove one uploaded file from a dataset; the dataset's status is worked out again."""
    service.remove_file(session, dataset=dataset, upload_id=upload_id, files=files)
    return Message(detail=f"file {upload_id!r} removed from dataset {dataset.id!r}")


@router.delete("/uploads/{upload_id}", response_model=UploadAborted, responses=error_responses(409))
def abort_upload(
    upload_id: UploadId, session: SessionDep, principal: PrincipalDep, registry: RegistryDep
) -> UploadAborted:
    """Abort an upload in flight; a finished upload is a 409 (`upload_finished`)."""
    service.abort_upload(session, upload_id=upload_id, principal=principal, registry=registry)
    return UploadAborted(upload_id=upload_id)
