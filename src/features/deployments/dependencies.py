"""Dependencies of the deployment routes (the API's and the dashboard's): the setup and the manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from src.features.deployments.manager import DeploymentManager
from src.features.deployments.service import DeploySetup
from src.models.errors import Unavailable


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_setup(request: Request) -> DeploySetup:
    return request.app.state.deploy_setup


async def get_manager(request: Request) -> DeploymentManager:
    manager = request.app.state.deployment_manager
    if manager is None:
        raise Unavailable("deployments are managed by another process here", code="no_manager")
    return manager


SetupDep = Annotated[DeploySetup, Depends(get_setup)]
ManagerDep = Annotated[DeploymentManager, Depends(get_manager)]
