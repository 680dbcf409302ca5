"""Dependencies of the dataset routes: load-or-404, and the per-app upload machinery."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.background import BackgroundWorkers
from app.deps import PrincipalDep, ReadSessionDep
from src.features.datasets import service
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.models.common import ObjectId
from src.storage.tables import Dataset

DatasetId = Annotated[ObjectId, Path(description="the dataset's id")]


def load_dataset(dataset_id: DatasetId, session: ReadSessionDep, principal: PrincipalDep) -> Dataset:
    return service.get(session, dataset_id=dataset_id, principal=principal)


def get_registry(request: Request) -> UploadRegistry:
    return request.app.state.uploads


def get_dataset_files(request: Request) -> DatasetFiles:
    return request.app.state.dataset_files


def get_background(request: Request) -> BackgroundWorkers:
    return request.app.state.background


DatasetDep = Annotated[Dataset, Depends(load_dataset)]
RegistryDep = Annotated[UploadRegistry, Depends(get_registry)]
DatasetFilesDep = Annotated[DatasetFiles, Depends(get_dataset_files)]
BackgroundDep = Annotated[BackgroundWorkers, Depends(get_background)]
