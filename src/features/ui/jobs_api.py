"""Dashboard pages: tuning jobs and interactive training (see src/features/ui/web.py).

The OpenAI-style fine-tuning jobs are tuning jobs with a run underneath, so each links to
its run's page. The interactive training of the Tinker-compatible API has no run: its loss
is what each `forward_backward` request answered (`loss:sum`, as the SDK reports it), kept
in the request's stored result, so the chart reads it back from there per request.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deps import ReadDep
from src.features.auth.service import Principal
from src.features.tinker import service as tinker_service
from src.features.tinker import wire
from src.features.tunings import service as tunings_service
from src.features.ui.web import UI_PREFIX, LoginDep, page
from src.models.runs import RunStatus
from src.storage.scoping import owned
from src.storage.tables import TinkerFuture, TinkerModel, TinkerSession

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
JOBS_SHOWN = 100
SESSIONS_SHOWN = 30
LOSS_POINTS_PER_CALL = 5000
# the requests whose answer carries a training loss: the SDK's and the plain /v1/runs API's
LOSS_KINDS = ("forward_backward", "forward_backward_text")
_LIVE_RUN = (RunStatus.pending.value, RunStatus.running.value)
_FINISHED_MODEL = ("failed", "released")
ModelIdPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+:train:[0-9]+$")]


def _tuning_jobs(session: Session, *, principal: Principal) -> dict[str, Any]:
    jobs = tunings_service.page(session, principal=principal, limit=JOBS_SHOWN).data
    return {"jobs": jobs, "jobs_live": any(job.status.value in _LIVE_RUN for job in jobs)}


def _training_sessions(
    session: Session, *, principal: Principal
) -> list[tuple[TinkerSession, list[TinkerModel]]]:
    """The caller's newest Tinker sessions, each with the models it trains: two queries."""
    stmt = owned(select(TinkerSession), TinkerSession, principal)
    rows = list(session.scalars(stmt.order_by(TinkerSession.created_at.desc()).limit(SESSIONS_SHOWN)))
    models: dict[str, list[TinkerModel]] = {row.id: [] for row in rows}
    if rows:
        found = session.scalars(
            owned(select(TinkerModel), TinkerModel, principal)
            .where(TinkerModel.session_id.in_(list(models)))
            .order_by(TinkerModel.created_at, TinkerModel.id)
        )
        for model in found:
            models[model.session_id].append(model)
    return [(row, models[row.id]) for row in rows]


def _jobs_page(session: Session, *, principal: Principal) -> dict[str, Any]:
    return {
        **_tuning_jobs(session, principal=principal),
        "training_sessions": _training_sessions(session, principal=principal),
        "session_expired": tinker_service.session_expired,
    }


@router.get("/jobs", response_class=HTMLResponse)
async def ui_jobs(request: Request, login: LoginDep, read: ReadDep) -> HTMLResponse:
    """The caller's fine-tuning jobs, and its interactive training sessions with their loss."""
    context = await read(_jobs_page, principal=login.principal)
    return page(request, login, "jobs.html", **context)


@router.get("/jobs/rows", response_class=HTMLResponse)
async def ui_job_rows(request: Request, login: LoginDep, read: ReadDep) -> HTMLResponse:
    """The fine-tuning jobs table's body, polled while a job is queued or running."""
    context = await read(_tuning_jobs, principal=login.principal)
    return page(request, login, "fragments/jobs_rows.html", **context)


def _loss(kind: str, raw: bytes, result_format: str | None) -> float | None:
    """The loss a finished request answered (its stored result), or None when it has none."""
    try:
        if result_format == "proto":
            value = wire.read_forward_backward_output(raw).get("loss:sum")
        else:
            value = json.loads(raw).get("loss")
    except (ValueError, AttributeError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def loss_points(session: Session, *, model_id: str, principal: Principal, from_step: int) -> dict[str, Any]:
    """A Tinker model's loss per `forward_backward` request, its `seq_id` as the step."""
    model = tinker_service.get_model(session, model_id=model_id, principal=principal)
    stmt = (
        select(
            TinkerFuture.seq_id,
            TinkerFuture.kind,
            TinkerFuture.result,
            TinkerFuture.result_format,
            TinkerFuture.finished_at,
        )
        .where(
            TinkerFuture.model_id == model.id,
            TinkerFuture.kind.in_(LOSS_KINDS),
            TinkerFuture.status == "done",
            TinkerFuture.seq_id >= from_step,
        )
        .order_by(TinkerFuture.seq_id)
        .limit(LOSS_POINTS_PER_CALL)
    )
    rows = session.execute(stmt).all()
    points = []
    for seq_id, kind, raw, result_format, finished_at in rows:
        loss = _loss(kind, raw or b"", result_format)
        if loss is not None:
            time = finished_at.timestamp() if finished_at is not None else None
            points.append({"step": seq_id, "epoch": None, "time": time, "loss": loss, "eval_loss": None})
    tinker_session = session.get(TinkerSession, model.session_id)
    ended = (
        tinker_session is None
        or tinker_session.status != "active"
        or tinker_service.session_expired(tinker_session)
    )
    return {
        "model_id": model.id,
        "points": points,
        # a page cut at the limit is not the end: the chart asks again from its last step
        "finished": (model.status in _FINISHED_MODEL or ended) and len(rows) < LOSS_POINTS_PER_CALL,
    }


@router.get("/jobs/tinker/{model_id}/loss.json")
async def ui_tinker_loss(
    model_id: ModelIdPath,
    login: LoginDep,
    read: ReadDep,
    from_step: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> JSONResponse:
    """A training model's loss points from `from_step` on, for its chart to add to what it has."""
    body = await read(loss_points, model_id=model_id, principal=login.principal, from_step=from_step)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
