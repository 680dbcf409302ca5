"""Routes of the plain run API: EZTinker's `/v1/runs`, `/v1/sample`, `/v1/jobs`, and checkpoints.

JSON over the same sessions and workers as the tinker SDK's `/api/v1/`, with the
service's usual bearer key. Every call answers at once with a `job_id`; `GET
/v1/jobs/{job_id}?wait=20` holds the call until the job is done (at most 25 s).
"""

from __future__ import annotations

from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path, Query, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from app.deps import PrincipalDep, ReadDep, SessionDep, SettingsDep, StoreDep
from src.features.tinker import runs, service
from src.features.tinker.api import FIRST_POLL_SECONDS, MAX_POLL_SECONDS, SetupDep
from src.models.errors import error_responses
from src.models.eztinker import (
    CHECKPOINT_ID_PATTERN,
    InteractiveJob,
    InteractiveJobQueued,
    InteractiveRun,
    InteractiveRunCreate,
    InteractiveRunCreated,
    InteractiveRunEnded,
    InteractiveRunList,
    RunCheckpointCreate,
    RunForwardBackward,
    RunOptimStep,
    SavedCheckpointList,
    TextSampleRequest,
)
from src.models.tinker import MODEL_ID_PATTERN
from src.storage import Store

router = APIRouter(tags=["interactive runs"], responses=error_responses(400, 401, 422))

RunIdPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, description="a run id from POST /v1/runs")]
CheckpointIdPath = Annotated[str, Path(pattern=CHECKPOINT_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
MAX_WAIT_SECONDS = 25.0
# archives are built two at a time, on threads of their own: downloads never hold the handler threads
ARCHIVE_BUILDS = anyio.CapacityLimiter(2)


@router.post(
    "/v1/runs",
    response_model=InteractiveRunCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
)
def create_interactive_run(
    body: InteractiveRunCreate, session: SessionDep, principal: PrincipalDep, setup: SetupDep
) -> InteractiveRunCreated:
    """Start a LoRA run on a base model this server has; it is ready when its `job_id` completes."""
    model, tinker_session, future = runs.create_run(session, principal=principal, data=body, setup=setup)
    return InteractiveRunCreated(**runs.run_read(model, tinker_session).model_dump(), job_id=future.id)


@router.get("/v1/runs", response_model=InteractiveRunList)
async def list_interactive_runs(
    read: ReadDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> InteractiveRunList:
    """Your runs, newest first (those the tinker SDK drives too)."""
    return await read(runs.list_runs, principal=principal, limit=limit, offset=offset)


@router.get("/v1/runs/{run_id}", response_model=InteractiveRun, responses=error_responses(404))
async def get_interactive_run(run_id: RunIdPath, read: ReadDep, principal: PrincipalDep) -> InteractiveRun:
    return await read(runs.get_run, run_id=run_id, principal=principal)


@router.delete("/v1/runs/{run_id}", response_model=InteractiveRunEnded, responses=error_responses(404, 409))
def delete_interactive_run(
    run_id: RunIdPath, session: SessionDep, principal: PrincipalDep
) -> InteractiveRunEnded:
    """End a run: its adapter is let go; its checkpoints stay."""
    runs.end_run(session, run_id=run_id, principal=principal)
    return InteractiveRunEnded(run_id=run_id)


@router.post(
    "/v1/runs/{run_id}/forward_backward",
    response_model=InteractiveJobQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 410),
)
def run_forward_backward(
    run_id: RunIdPath, body: RunForwardBackward, session: SessionDep, principal: PrincipalDep
) -> InteractiveJobQueued:
    """Queue next-token cross-entropy on one sequence; gradients add up until `optim_step`."""
    future = runs.forward_backward(session, run_id=run_id, principal=principal, data=body)
    return InteractiveJobQueued(job_id=future.id, run_id=run_id)


@router.post(
    "/v1/runs/{run_id}/optim_step",
    response_model=InteractiveJobQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 410),
)
def run_optim_step(
    run_id: RunIdPath, body: RunOptimStep, session: SessionDep, principal: PrincipalDep
) -> InteractiveJobQueued:
    """Queue an AdamW step with the gradients gathered since the last one."""
    future = runs.optim_step(session, run_id=run_id, principal=principal, learning_rate=body.learning_rate)
    return InteractiveJobQueued(job_id=future.id, run_id=run_id)


@router.post(
    "/v1/runs/{run_id}/checkpoints",
    response_model=InteractiveJobQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 410),
)
def run_save_checkpoint(
    run_id: RunIdPath,
    body: RunCheckpointCreate,
    session: SessionDep,
    principal: PrincipalDep,
    setup: SetupDep,
) -> InteractiveJobQueued:
    """Queue a save of the adapter and its optimizer; the job's result has its `tinker://` path."""
    future = runs.save_checkpoint(session, run_id=run_id, principal=principal, name=body.name, setup=setup)
    return InteractiveJobQueued(job_id=future.id, run_id=run_id)


@router.post(
    "/v1/sample",
    response_model=InteractiveJobQueued,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404, 409, 410),
)
def sample_text(
    body: TextSampleRequest, session: SessionDep, principal: PrincipalDep, setup: SetupDep
) -> InteractiveJobQueued:
    """Queue a completion of `prompt`: from a run as trained so far, or from a base model."""
    future = runs.sample(session, principal=principal, data=body, setup=setup)
    return InteractiveJobQueued(job_id=future.id, run_id=body.run_id)


@router.get("/v1/jobs/{job_id}", response_model=InteractiveJob, responses=error_responses(404))
async def get_interactive_job(
    job_id: Annotated[str, Path(max_length=64)],
    read: ReadDep,
    principal: PrincipalDep,
    store: StoreDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the end")] = 0,
) -> InteractiveJob:
    """A job's state; with `wait`, held until it completes or fails (or `wait` passes)."""
    deadline = anyio.current_time() + wait
    pause = FIRST_POLL_SECONDS
    while True:
        state = await read(runs.job_state, job_id=job_id, principal=principal)
        if state.read.status in ("completed", "failed"):
            return state.read
        if state.worker_gone:
            await anyio.to_thread.run_sync(_fail_gone_worker, store, job_id)
            continue
        if anyio.current_time() >= deadline:
            return state.read
        await anyio.sleep(pause)
        pause = min(pause * 1.5, MAX_POLL_SECONDS)


def _fail_gone_worker(store: Store, job_id: str) -> None:
    with store.session_scope() as session:
        service.fail_gone_worker(session, request_id=job_id)


@router.get("/v1/checkpoints", response_model=SavedCheckpointList, responses=error_responses(404))
async def list_saved_checkpoints(
    read: ReadDep,
    principal: PrincipalDep,
    run_id: Annotated[str | None, Query(pattern=MODEL_ID_PATTERN)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SavedCheckpointList:
    """Your saved weights, newest first (of one run with `run_id`); the tinker SDK's saves too."""
    return await read(runs.list_checkpoints, principal=principal, run_id=run_id, limit=limit, offset=offset)


@router.get(
    "/v1/checkpoints/{checkpoint_id}/archive",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}}, **error_responses(404)},
)
async def download_saved_checkpoint(
    checkpoint_id: CheckpointIdPath, read: ReadDep, principal: PrincipalDep, settings: SettingsDep
) -> FileResponse:
    """The checkpoint's files as a .tar.gz: a PEFT adapter directory (and `optimizer.pt` for saved state)."""
    directory, name = await read(runs.checkpoint_files, checkpoint_id=checkpoint_id, principal=principal)
    scratch = settings.store.data_dir / "tinker" / "archives"
    archive = await anyio.to_thread.run_sync(
        lambda: runs.archive(directory, name=name, scratch=scratch), limiter=ARCHIVE_BUILDS
    )
    return FileResponse(
        archive,
        media_type="application/gzip",
        filename=f"{name}.tar.gz",
        background=BackgroundTask(archive.unlink, missing_ok=True),
    )
