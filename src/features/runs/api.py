"""Run routes: start, list, read, cancel; logs (paged, tailed, streamed), metrics, artifacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, status
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.orm import Session

from app.deps import PrincipalDep, ReadDep, ReadSessionDep, SessionDep, StoreDep
from src.features.auth.service import Principal
from src.features.datasets.dependencies import DatasetFilesDep
from src.features.projects import service as projects_service
from src.features.runs import service
from src.features.runs.dependencies import LayoutDep
from src.features.runs.logstream import MAX_LOG_SEQ, follow, resume_after
from src.features.runs.workspace import TrainingLayout
from src.features.train_configs.dependencies import ConfigFilesDep
from src.models.common import ObjectId
from src.models.errors import error_responses
from src.models.projects import ProjectName
from src.models.runs import (
    ArtifactList,
    ArtifactRead,
    ArtifactTags,
    LogLineCreate,
    LogPage,
    MetricPoint,
    MetricSeries,
    RunCreate,
    RunId,
    RunPage,
    RunRead,
    RunStatus,
    Tag,
)
from src.storage.tables import Run

router = APIRouter(tags=["runs"], responses=error_responses(400, 401, 404, 422))


def load_run(run_id: Annotated[RunId, Path()], session: ReadSessionDep, principal: PrincipalDep) -> Run:
    return service.get(session, run_id=run_id, principal=principal)


def load_run_to_change(run_id: Annotated[RunId, Path()], session: SessionDep, principal: PrincipalDep) -> Run:
    """The run, loaded through the request's write session (the handler's `SessionDep` is the same one)."""
    return service.get(session, run_id=run_id, principal=principal)


RunDep = Annotated[Run, Depends(load_run)]
RunToChangeDep = Annotated[Run, Depends(load_run_to_change)]


@router.post("/projects/{name}/runs", status_code=status.HTTP_201_CREATED, response_model=RunRead)
def create_run(
    name: ProjectName,
    session: SessionDep,
    principal: PrincipalDep,
    layout: LayoutDep,
    dataset_files: DatasetFilesDep,
    config_files: ConfigFilesDep,
    body: RunCreate | None = None,
) -> RunRead:
    """Queue a training run of the project; it starts when a slot and its GPUs are free."""
    project = projects_service.get(session, name=name, principal=principal)
    run = service.create(
        session,
        spec=service.RunSpec(project=project, principal=principal, data=body or RunCreate()),
        layout=layout,
        dataset_files=dataset_files,
        config_files=config_files,
    )
    return service.to_read(session, run=run, principal=principal, layout=layout)


@router.get("/projects/{name}/runs", response_model=RunPage)
async def list_runs(
    name: ProjectName,
    read: ReadDep,
    principal: PrincipalDep,
    layout: LayoutDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[RunId | None, Query(description="id of the last run seen")] = None,
    status: RunStatus | None = None,
) -> RunPage:
    """A project's runs, newest first, with cursor pagination."""
    return await read(
        _project_runs, name=name, principal=principal, layout=layout, limit=limit, after=after, status=status
    )


def _project_runs(
    session: Session, *, name: str, principal: Principal, layout: TrainingLayout, **page: Any
) -> RunPage:
    project = projects_service.get(session, name=name, principal=principal)
    runs, has_more = service.list_page(session, project=project, **page)
    return RunPage(
        data=service.to_reads(session, runs=runs, principal=principal, layout=layout), has_more=has_more
    )


@router.get("/runs/{run_id}", response_model=RunRead)
async def get_run(
    run_id: Annotated[RunId, Path()], read: ReadDep, principal: PrincipalDep, layout: LayoutDep
) -> RunRead:
    """A run with its status, progress, queue position and error."""
    return await read(service.get_read, run_id=run_id, principal=principal, layout=layout)


@router.post("/runs/{run_id}/cancel", response_model=RunRead)
def cancel_run(
    run: RunToChangeDep, session: SessionDep, principal: PrincipalDep, layout: LayoutDep
) -> RunRead:
    """Cancel a pending run, or stop a running one (TERM, then KILL after the grace period)."""
    run = service.cancel(session, run=run)
    return service.to_read(session, run=run, principal=principal, layout=layout)


@router.get("/runs/{run_id}/logs", response_model=LogPage)
def read_run_logs(
    run: RunDep,
    session: ReadSessionDep,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="last seq already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    tag: Tag | None = None,
    tail: Annotated[int | None, Query(ge=1, le=1000, description="the last N lines instead")] = None,
) -> LogPage:
    """Log lines oldest first (page with `after`), or the last `tail` lines."""
    return service.read_logs(session, run=run, after=after, limit=limit, tag=tag, tail=tail)


@router.post("/runs/{run_id}/logs", status_code=status.HTTP_201_CREATED, response_model=LogPage)
def append_run_log(run: RunToChangeDep, body: LogLineCreate, session: SessionDep) -> LogPage:
    """Append a line (with tags) to a run's log."""
    seq = service.append_log_lines(session, run=run, lines=[body.line], source="api", tags=body.tags)
    return service.read_logs(session, run=run, after=seq - 1, limit=1)


@router.get(
    "/runs/{run_id}/logs/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`data:` one JSON log line per event; `event: end` when the run ends",
        }
    },
)
async def stream_run_logs(
    run: RunDep,
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=MAX_LOG_SEQ)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Follow the log live as Server-Sent Events; the stream ends when the run does."""
    return StreamingResponse(
        follow(store, run.id, resume_after(after, last_event_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/runs/{run_id}/metrics", response_model=MetricSeries)
def run_metrics(run: RunDep, session: ReadSessionDep) -> MetricSeries:
    """The run's metric series: step, epoch, loss, eval_loss, lr, grad_norm, throughput."""
    points = [MetricPoint.model_validate(m) for m in service.metrics(session, run=run)]
    return MetricSeries(run_id=run.id, data=points)


@router.get("/runs/{run_id}/artifacts", response_model=ArtifactList)
def run_artifacts(run: RunDep, session: ReadSessionDep) -> ArtifactList:
    """Files the run left in its output directory (registered when it ends)."""
    return ArtifactList(data=[ArtifactRead.model_validate(a) for a in service.artifacts(session, run=run)])


@router.get(
    "/runs/{run_id}/artifacts/{artifact_id}/content",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the artifact's bytes",
        }
    },
)
def download_run_artifact(
    run: RunDep, artifact_id: Annotated[ObjectId, Path()], session: ReadSessionDep, layout: LayoutDep
) -> FileResponse:
    """Stream one artifact of the run (an adapter, a checkpoint file, a log)."""
    artifact = service.get_artifact(session, run=run, artifact_id=artifact_id)
    path = service.artifact_file(run, artifact, layout=layout)
    return FileResponse(
        path, filename=artifact.path.rsplit("/", 1)[-1], media_type="application/octet-stream"
    )


@router.post("/runs/{run_id}/artifacts/{artifact_id}/tags", response_model=ArtifactRead)
def tag_run_artifact(
    run: RunToChangeDep,
    artifact_id: Annotated[ObjectId, Path()],
    body: ArtifactTags,
    session: SessionDep,
) -> ArtifactRead:
    """Add tags to an artifact (for example `best` or `deploy`)."""
    return ArtifactRead.model_validate(
        service.tag_artifact(session, run=run, artifact_id=artifact_id, tags=body.tags)
    )
