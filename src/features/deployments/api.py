"""Deployment routes: start, list, read, stop, logs, restart, and a proxy to the model server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
import httpx
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from app.deps import PrincipalDep, ReadSessionDep, SessionDep, StoreDep
from src.features.deployments import service
from src.features.deployments.dependencies import ManagerDep, SetupDep
from src.models.deployments import (
    DeploymentCreate,
    DeploymentInfo,
    DeploymentList,
    DeploymentLogs,
    DeploymentRemoved,
    DeploymentStatus,
)
from src.models.errors import Unavailable, error_responses

router = APIRouter(prefix="/deployments", tags=["deployments"], responses=error_responses(400, 401, 404, 422))
DeploymentId = Annotated[str, Path(pattern=r"^dep-[0-9a-f]{12}$", examples=["dep-0123456789ab"])]
HOP_HEADERS = {
    "host",
    "authorization",
    "content-length",
    "connection",
    "transfer-encoding",
    "accept-encoding",
}


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=DeploymentInfo, responses=error_responses(409)
)
def create_deployment(
    body: DeploymentCreate, session: SessionDep, principal: PrincipalDep, setup: SetupDep
) -> DeploymentInfo:
    """Serve a model (a path under the model roots, or a run's output) on free GPUs and a free port."""
    deployment = service.create(session, principal=principal, data=body, setup=setup)
    return service.to_info(deployment, principal=principal, setup=setup)


@router.get("", response_model=DeploymentList)
def list_deployments(
    session: ReadSessionDep,
    principal: PrincipalDep,
    setup: SetupDep,
    model: Annotated[str | None, Query(max_length=1024)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: DeploymentStatus | None = None,
) -> DeploymentList:
    """Deployments, newest first, filtered by model, tag or status."""
    rows = service.list_all(session, principal=principal, setup=setup, model=model, tag=tag, status=status)
    return DeploymentList(data=[service.to_info(d, principal=principal, setup=setup) for d in rows])


@router.get("/{deployment_id}", response_model=DeploymentInfo)
def get_deployment(
    deployment_id: DeploymentId, session: ReadSessionDep, principal: PrincipalDep, setup: SetupDep
) -> DeploymentInfo:
    """One deployment with its status, port, pid and command line."""
    deployment = service.get(session, deployment_id=deployment_id, principal=principal)
    return service.to_info(deployment, principal=principal, setup=setup)


@router.delete("/{deployment_id}", response_model=DeploymentRemoved, responses=error_responses(503))
def delete_deployment(
    deployment_id: DeploymentId,
    session: ReadSessionDep,
    principal: PrincipalDep,
    manager: ManagerDep,
    request: Request,
    force: bool = False,
) -> DeploymentRemoved:
    """Stop the server (TERM, KILL after the grace period or at once with force); free GPUs and port."""
    service.get(session, deployment_id=deployment_id, principal=principal)
    grace = 0.0 if force else request.app.state.settings.deployments.deploy_stop_grace
    manager.stop_deployment(deployment_id, grace=grace)
    return DeploymentRemoved(deployment_id=deployment_id)


@router.get("/{deployment_id}/logs", response_model=DeploymentLogs)
def deployment_logs(
    deployment_id: DeploymentId,
    session: ReadSessionDep,
    principal: PrincipalDep,
    tail: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> DeploymentLogs:
    """The last lines of the server's log."""
    deployment = service.get(session, deployment_id=deployment_id, principal=principal)
    return DeploymentLogs(deployment_id=deployment.id, lines=service.log_tail(deployment, lines=tail))


@router.post("/{deployment_id}/restart", response_model=DeploymentInfo, responses=error_responses(409, 503))
def restart_deployment(
    deployment_id: DeploymentId,
    principal: PrincipalDep,
    manager: ManagerDep,
    setup: SetupDep,
    request: Request,
) -> DeploymentInfo:
    """Stop the server and start a new one with the same model and settings."""
    # no request session here: the manager's stop and create each commit on their own
    grace = request.app.state.settings.deployments.deploy_stop_grace
    restarted = manager.restart_deployment(deployment_id, principal=principal, setup=setup, grace=grace)
    return service.to_info(restarted, principal=principal, setup=setup)


@router.api_route("/{deployment_id}/v1/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def proxy(
    deployment_id: DeploymentId,
    path: str,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    setup: SetupDep,
) -> StreamingResponse:
    """Forward to the deployment's OpenAI-compatible API, streaming included."""
    upstream_path = service.upstream_path(path)
    deployment = await anyio.to_thread.run_sync(service.serving, store, deployment_id, principal)
    client = httpx.AsyncClient(base_url=deployment.base_url, timeout=httpx.Timeout(600, connect=5))
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
    api_key = service.upstream_key(setup.upstream_secret, deployment_id=deployment.id)
    headers["Authorization"] = f"Bearer {api_key}"
    upstream = client.build_request(
        request.method,
        upstream_path,
        params=request.query_params,
        content=await request.body(),
        headers=headers,
    )
    try:
        response = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise Unavailable(f"deployment {deployment_id} did not answer: {exc.__class__.__name__}") from exc

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        finally:
            await response.aclose()
            await client.aclose()

    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS | {"content-encoding"}
    }
    return StreamingResponse(body(), status_code=response.status_code, headers=headers)
