"""Dashboard pages: deployments (see src/features/ui/web.py for what every page shares).

The list with a create form and a GPU picker, one deployment with its log, stop and restart,
a playground that sends a prompt through the service's own path to the model server, and
snippets for calling it with an API key the page never holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
import httpx
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.deps import ReadDep, ReadSessionDep, StoreDep
from src.features.auth.service import Principal
from src.features.deployments import service
from src.features.deployments.dependencies import ManagerDep, SetupDep
from src.features.deployments.service import DeploySetup
from src.features.gpus import service as gpus_service
from src.features.ui.web import SECURITY_HEADERS, UI_PREFIX, ChangeDep, LoginDep, page
from src.models.deployments import DeploymentCreate
from src.models.errors import AppError, Invalid, Unavailable
from src.storage.tables import Deployment

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)

MAX_ROWS = 200
LOG_LINES_SHOWN = 100
PLAYGROUND_TIMEOUT_S = 120.0
DeploymentIdPath = Annotated[str, Path(pattern=r"^dep-[0-9a-f]{12}$")]
FormText = Annotated[str, Form(max_length=1024)]


@dataclass(frozen=True)
class GpuChoice:
    """A GPU of the picker; a held one cannot be picked, and its holder is named as the caller may see."""

    id: str
    name: str | None
    holder: str | None

    @property
    def free(self) -> bool:
        return self.holder is None


@dataclass(frozen=True)
class DeployForm:
    """What the create form sent, kept to fill the form again after an error."""

    run_id: str = ""
    model_path: str = ""
    checkpoint: str = ""
    served_model_name: str = ""
    gpu_count: int = 1
    preferred_gpu: str = ""

    def to_create(self) -> DeploymentCreate:
        """The API's request body; exactly one of run, model path and checkpoint names the weights."""
        sources = {"run_id": self.run_id, "model_path": self.model_path, "checkpoint": self.checkpoint}
        given = {name: value.strip() for name, value in sources.items() if value.strip()}
        if len(given) != 1:
            raise Invalid("give one of a run, a model path and a checkpoint", param="run_id")
        try:
            return DeploymentCreate(
                **given,
                served_model_name=self.served_model_name.strip() or None,
                gpu_count=self.gpu_count,
                preferred_gpu=self.preferred_gpu or None,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(part) for part in first["loc"]) or None
            raise Invalid(f"{param}: {first['msg']}" if param else first["msg"], param=param) from exc


def gpu_choices(session: Session, *, principal: Principal, gpu_ids: list[str]) -> list[GpuChoice]:
    """The inventory's GPUs in the placement's order; another owner's holder is not named."""
    held = gpus_service.visible_holders(session, owner_scope=principal.owner_scope)
    names = {gpu.id: gpu.name for gpu in gpus_service.inventory(gpu_ids)}
    choices = []
    for gpu_id in gpu_ids:
        holder = None
        if gpu_id in held:
            seen = held[gpu_id]
            holder = f"held by {seen[0]} {seen[1]}" if seen else "held by another owner"
        choices.append(GpuChoice(id=gpu_id, name=names.get(gpu_id), holder=holder))
    return choices


def _rows(session: Session, *, principal: Principal, setup: DeploySetup) -> dict[str, Any]:
    deployments = service.list_all(
        session, principal=principal, setup=setup, model=None, tag=None, status=None
    )
    return {
        "rows": [(d, service.to_info(d, principal=principal, setup=setup)) for d in deployments[:MAX_ROWS]]
    }


def _list_page(session: Session, *, principal: Principal, setup: DeploySetup) -> dict[str, Any]:
    return {
        **_rows(session, principal=principal, setup=setup),
        "gpus": gpu_choices(session, principal=principal, gpu_ids=list(setup.gpu_ids)),
    }


def to_deployment(deployment_id: str) -> RedirectResponse:
    return RedirectResponse(
        f"{UI_PREFIX}/deployments/{deployment_id}", status_code=303, headers=SECURITY_HEADERS
    )


@router.get("/deployments", response_class=HTMLResponse)
async def ui_deployments(
    request: Request,
    login: LoginDep,
    read: ReadDep,
    setup: SetupDep,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Deployments with their status and health, and a form to serve a run's output on a GPU."""
    context = await read(_list_page, principal=login.principal, setup=setup)
    return page(
        request, login, "deployments.html", form=DeployForm(run_id=run_id or ""), message=None, **context
    )


@router.get("/deployments/table", response_class=HTMLResponse)
async def ui_deployments_rows(
    request: Request, login: LoginDep, read: ReadDep, setup: SetupDep
) -> HTMLResponse:
    """The deployments table's body, polled by the page."""
    context = await read(_rows, principal=login.principal, setup=setup)
    return page(request, login, "fragments/deployments_rows.html", **context)


@router.post("/deployments", response_class=HTMLResponse)
def ui_create_deployment(
    request: Request,
    login: ChangeDep,
    store: StoreDep,
    setup: SetupDep,
    run_id: FormText = "",
    model_path: FormText = "",
    checkpoint: FormText = "",
    served_model_name: Annotated[str, Form(max_length=255)] = "",
    gpu_count: Annotated[int, Form(ge=0, le=16)] = 1,
    preferred_gpu: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Serve a model as the JSON API does, then show the new deployment; a refusal shows on the form."""
    form = DeployForm(run_id, model_path, checkpoint, served_model_name, gpu_count, preferred_gpu)
    try:
        with store.session_scope() as session:  # a refusal rolls back whatever was placed
            deployment_id = service.create(
                session, principal=login.principal, data=form.to_create(), setup=setup
            ).id
    except AppError as exc:
        with store.session_scope(read_only=True) as session:
            context = _list_page(session, principal=login.principal, setup=setup)
        return page(
            request,
            login,
            "deployments.html",
            status_code=exc.status_code,
            form=form,
            message=exc.message,
            **context,
        )
    return to_deployment(deployment_id)


# ---- one deployment -------------------------------------------------------------------------------


def _detail(
    session: Session, *, deployment_id: str, principal: Principal, setup: DeploySetup
) -> dict[str, Any]:
    deployment = service.get(session, deployment_id=deployment_id, principal=principal)
    return {
        "deployment": deployment,
        "info": service.to_info(deployment, principal=principal, setup=setup),
        "active": service.is_active(deployment),
        "log_lines": service.log_tail(deployment, lines=LOG_LINES_SHOWN),
    }


def proxy_base(request: Request, deployment_id: str) -> str:
    """Where a client reaches the deployment's OpenAI-compatible API through this service."""
    return f"{str(request.base_url).rstrip('/')}/deployments/{deployment_id}/v1"


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
async def ui_deployment(
    request: Request, deployment_id: DeploymentIdPath, login: LoginDep, read: ReadDep, setup: SetupDep
) -> HTMLResponse:
    """A deployment: status, health, GPUs, port, log, stop/restart, a playground and client snippets."""
    context = await read(_detail, deployment_id=deployment_id, principal=login.principal, setup=setup)
    return page(request, login, "deployment.html", proxy_base=proxy_base(request, deployment_id), **context)


@router.get("/deployments/{deployment_id}/status", response_class=HTMLResponse)
async def ui_deployment_status(
    request: Request, deployment_id: DeploymentIdPath, login: LoginDep, read: ReadDep, setup: SetupDep
) -> HTMLResponse:
    """The status panel and log tail, polled while the deployment is live."""
    context = await read(_detail, deployment_id=deployment_id, principal=login.principal, setup=setup)
    return page(request, login, "fragments/deployments_status.html", **context)


@router.post("/deployments/{deployment_id}/stop")
def ui_stop_deployment(
    request: Request,
    deployment_id: DeploymentIdPath,
    login: ChangeDep,
    session: ReadSessionDep,
    manager: ManagerDep,
) -> Response:
    """Stop the server (TERM, KILL after the grace period) and free its GPUs and port, as DELETE does."""
    service.get(session, deployment_id=deployment_id, principal=login.principal)
    manager.stop_deployment(deployment_id, grace=request.app.state.settings.deployments.deploy_stop_grace)
    return to_deployment(deployment_id)


@router.post("/deployments/{deployment_id}/restart")
def ui_restart_deployment(
    request: Request, deployment_id: DeploymentIdPath, login: ChangeDep, manager: ManagerDep, setup: SetupDep
) -> Response:
    """Stop the server and start a new deployment with the same model and settings; show the new one."""
    grace = request.app.state.settings.deployments.deploy_stop_grace
    restarted = manager.restart_deployment(deployment_id, principal=login.principal, setup=setup, grace=grace)
    return to_deployment(restarted.id)


async def complete(deployment: Deployment, *, api_key: str, prompt: str, max_tokens: int) -> str:
    """The model server's completion of `prompt`, asked the way the proxy asks it (with the upstream key)."""
    body = {"model": deployment.served_model_name, "prompt": prompt, "max_tokens": max_tokens}
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(PLAYGROUND_TIMEOUT_S, connect=5)
    try:
        async with httpx.AsyncClient(base_url=deployment.base_url, timeout=timeout) as client:
            answer = await client.post(service.upstream_path("completions"), json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"deployment {deployment.id} did not answer: {exc.__class__.__name__}") from exc
    if answer.status_code != 200:
        raise Unavailable(f"deployment {deployment.id} answered {answer.status_code}: {answer.text[:300]}")
    try:
        return str(answer.json()["choices"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise Unavailable(f"deployment {deployment.id} answered something other than a completion") from exc


@router.post("/deployments/{deployment_id}/playground", response_class=HTMLResponse)
async def ui_deployment_playground(
    request: Request,
    deployment_id: DeploymentIdPath,
    login: ChangeDep,
    store: StoreDep,
    setup: SetupDep,
    prompt: Annotated[str, Form(min_length=1, max_length=8000)],
    max_tokens: Annotated[int, Form(ge=1, le=1024)] = 64,
) -> HTMLResponse:
    """Send a prompt to the deployment's model server and show the completion."""
    deployment = await anyio.to_thread.run_sync(service.serving, store, deployment_id, login.principal)
    api_key = service.upstream_key(setup.upstream_secret, deployment_id=deployment.id)
    text = await complete(deployment, api_key=api_key, prompt=prompt, max_tokens=max_tokens)
    return page(request, login, "fragments/deployments_playground.html", prompt=prompt, completion=text)
