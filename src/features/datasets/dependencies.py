"""Dependencies of the dataset routes: load-or-404, the per-app upload machinery, the upload body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.background import BackgroundWorkers
from app.config import Settings
from app.deps import PrincipalDep, ReadSessionDep, SessionDep
from src.features.datasets import service
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.models.common import ObjectId
from src.models.datasets import UploadResult
from src.storage import Store
from src.storage.tables import Dataset, DatasetFile

DatasetId = Annotated[ObjectId, Path(description="the dataset's id")]

# The request body of the routes that take a dataset file (`PUT /v1/datasets/{id}/files`,
# `POST /v1/files`): they read the multipart stream themselves, so FastAPI cannot describe it.
MULTIPART_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".jsonl or .json"}
                    },
                }
            }
        },
    }
}


def load_dataset(dataset_id: DatasetId, session: ReadSessionDep, principal: PrincipalDep) -> Dataset:
    return service.get(session, dataset_id=dataset_id, principal=principal)


def load_dataset_to_change(dataset_id: DatasetId, session: SessionDep, principal: PrincipalDep) -> Dataset:
    """The dataset, through the request's write session (the handler's `SessionDep` is the same one)."""
    return service.get(session, dataset_id=dataset_id, principal=principal)


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_registry(request: Request) -> UploadRegistry:
    return request.app.state.uploads


async def get_dataset_files(request: Request) -> DatasetFiles:
    return request.app.state.dataset_files


async def get_background(request: Request) -> BackgroundWorkers:
    return request.app.state.background


DatasetDep = Annotated[Dataset, Depends(load_dataset)]
DatasetToChangeDep = Annotated[Dataset, Depends(load_dataset_to_change)]
RegistryDep = Annotated[UploadRegistry, Depends(get_registry)]
DatasetFilesDep = Annotated[DatasetFiles, Depends(get_dataset_files)]
BackgroundDep = Annotated[BackgroundWorkers, Depends(get_background)]


async def receive_file(
    request: Request,
    store: Store,
    *,
    dataset: Dataset,
    settings: Settings,
    files: DatasetFiles,
    registry: UploadRegistry,
    background: BackgroundWorkers,
) -> tuple[DatasetFile, UploadResult]:
    """A request's multipart upload streamed to disk under the upload limit, then validated
    (a large file later, by a background worker). The API's upload and the dashboard's share it."""
    length = request.headers.get("content-length")
    row, _fields = await service.receive_upload(
        store,
        dataset=dataset,
        chunks=request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=int(length) if length and length.isdigit() else None,
        files=files,
        registry=registry,
        max_bytes=settings.uploads.max_upload_bytes,
    )
    result = await service.validate_or_schedule(
        store,
        row=row,
        files=files,
        inline_limit=settings.uploads.inline_validation_bytes,
        submit=background.submit,
        should_stop=background.should_stop,
    )
    return row, result
