"""Dependencies of the routes that read or write training config files."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from src.features.train_configs.service import ConfigFiles


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_config_files(request: Request) -> ConfigFiles:
    return request.app.state.config_files


ConfigFilesDep = Annotated[ConfigFiles, Depends(get_config_files)]
