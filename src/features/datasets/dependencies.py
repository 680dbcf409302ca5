"""Dependencies of the dataset routes: load-or-404, the per-app upload machinery, the upload body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.background import BackgroundWorkers
from app.deps import PrincipalDep, ReadSessionDep, SessionDep
from src.features.datasets import service
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.models.common import ObjectId
from src.storage.tables import Dataset

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
