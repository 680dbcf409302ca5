"""Dependencies of the run routes (the API's and the dashboard's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from src.features.runs.workspace import TrainingLayout


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_layout(request: Request) -> TrainingLayout:
    return request.app.state.training_layout


LayoutDep = Annotated[TrainingLayout, Depends(get_layout)]
