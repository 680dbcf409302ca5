"""The plain run API (EZTinker's `/v1/runs`, `/v1/sample`, `/v1/jobs`) over the tinker sessions.

A run is one LoRA model in a session of its own (`client="eztinker"`). There is no
client heartbeat: each call on the run keeps it alive, and a run no call touched
for `TinkerSetup.run_idle_seconds` ends like a silent SDK session (its adapter is
let go). The server numbers the run's requests itself (the SDK numbers its own),
so two calls at once are queued one after the other, never on the same seq_id.
Runs the tinker SDK drives are listed here but not driven from here: their
seq_ids are the SDK's.
"""

from __future__ import annotations

import json
import secrets
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from src.features.auth.service import Principal
from src.features.models.demo import DEMO_MODEL_NAME
from src.features.tinker import service, wire, workers
from src.features.tinker.wire import LORA_ALPHA
from src.features.tinker.workers import TinkerSetup
from src.models.errors import Conflict, Gone, Invalid, NotFound
from src.models.eztinker import (
    InteractiveJob,
    InteractiveJobError,
    InteractiveRun,
    InteractiveRunCreate,
    InteractiveRunList,
    RunForwardBackward,
    SavedCheckpoint,
    SavedCheckpointList,
    TextSampleRequest,
)
from src.models.tinker import AdamParams, LoraConfigIn, ModelCreate
from src.storage.scoping import ensure_owned, get_owned, owned
from src.storage.tables import TinkerCheckpoint, TinkerFuture, TinkerModel, TinkerSession, TinkerWorker
from src.storage.types import utcnow

CLIENT = "eztinker"
_JOB_STATUS = {"pending": "pending", "running": "running", "done": "completed", "failed": "failed"}


def create_run(
    session: Session, *, principal: Principal, data: InteractiveRunCreate, setup: TinkerSetup
) -> tuple[TinkerModel, TinkerSession, TinkerFuture]:
    """A session of its own holding one LoRA model; the future loads it in the base model's worker."""
    tinker_session = TinkerSession(
        id=service.new_session_id(),
        owner=principal.owner,
        client=CLIENT,
        idle_timeout_s=setup.run_idle_seconds,
        display_name=data.label,
        tags=[CLIENT],
    )
    session.add(tinker_session)
    session.flush()
    create = ModelCreate(
        session_id=tinker_session.id,
        model_seq_id=0,
        base_model=data.base_model,
        lora_config=LoraConfigIn(rank=data.lora_rank, seed=data.seed),
    )
    model, future = service.create_model(
        session, principal=principal, data=create, setup=setup, alpha=data.lora_alpha
    )
    return model, tinker_session, future


def run_read(model: TinkerModel, tinker_session: TinkerSession) -> InteractiveRun:
    return InteractiveRun(
        run_id=model.id,
        label=tinker_session.display_name,
        base_model=model.base_model,
        lora_rank=model.lora_rank,
        lora_alpha=float((model.lora_config or {}).get("alpha") or LORA_ALPHA),
        status=model.status,  # type: ignore[arg-type]
        client=tinker_session.client,  # type: ignore[arg-type]
        steps=model.last_seq,
        created_at=model.created_at,
        expires_after_idle_s=tinker_session.idle_timeout_s or int(service.HEARTBEAT_TIMEOUT.total_seconds()),
    )


def list_runs(session: Session, *, principal: Principal, limit: int, offset: int) -> InteractiveRunList:
    """The caller's runs (the SDK's too), newest first."""
    scoped = owned(select(TinkerModel), TinkerModel, principal)
    total = session.scalar(select(func.count()).select_from(scoped.subquery())) or 0
    rows = session.execute(
        owned(
            select(TinkerModel, TinkerSession).join(
                TinkerSession, TinkerSession.id == TinkerModel.session_id
            ),
            TinkerModel,
            principal,
        )
        .order_by(TinkerModel.created_at.desc(), TinkerModel.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return InteractiveRunList(
        data=[run_read(model, tinker_session) for model, tinker_session in rows], total=total
    )


def get_run(session: Session, *, run_id: str, principal: Principal) -> InteractiveRun:
    model = service.get_model(session, model_id=run_id, principal=principal)
    return run_read(model, _session_of(session, model))


def _session_of(session: Session, model: TinkerModel) -> TinkerSession:
    tinker_session = session.get(TinkerSession, model.session_id)
    assert tinker_session is not None  # the foreign key
    return tinker_session


def _driven_run(session: Session, *, run_id: str, principal: Principal) -> TinkerModel:
    """A run of this API, still alive; the call keeps it so for another idle period."""
    model = service.get_model(session, model_id=run_id, principal=principal)
    tinker_session = _session_of(session, model)
    if tinker_session.client != CLIENT:
        raise Conflict(
            f"run {run_id!r} belongs to a tinker SDK session; drive it from that session",
            param="run_id",
            code="run_of_sdk_session",
        )
    service.expire_if_silent(tinker_session)
    if tinker_session.status != "active" or model.status in ("failed", "released"):
        raise Gone(f"run {run_id!r} has ended", param="run_id", code="run_ended")
    tinker_session.last_heartbeat_at = utcnow()
    return model


def _next_seq(session: Session, model: TinkerModel) -> int:
    """The run's next seq_id; the model row's lock (PostgreSQL) or the write lock (SQLite) makes it ours."""
    session.execute(select(TinkerModel.id).where(TinkerModel.id == model.id).with_for_update())
    top = session.scalar(select(func.max(TinkerFuture.seq_id)).where(TinkerFuture.model_id == model.id))
    return max(top or 0, model.last_seq) + 1


def forward_backward(
    session: Session, *, run_id: str, principal: Principal, data: RunForwardBackward
) -> TinkerFuture:
    model = _driven_run(session, run_id=run_id, principal=principal)
    seq_id = _next_seq(session, model)
    if data.input_ids is None:  # text: the worker tokenizes it with the model's tokenizer
        spec = {"prompt": data.prompt or "", "completion": data.completion, "forward_only": data.forward_only}
        payload = json.dumps(spec).encode()
        return service.submit(
            session, model=model, kind="forward_backward_text", seq_id=seq_id, payload=payload
        )
    try:
        payload = wire.cross_entropy_request(
            model_id=model.id,
            seq_id=seq_id,
            input_ids=data.input_ids,
            weights=data.weights,
            forward_only=data.forward_only,
        )
    except wire.UserError as exc:
        raise Invalid(str(exc), param="weights") from exc
    return service.submit(session, model=model, kind="forward_backward", seq_id=seq_id, payload=payload)


def optim_step(session: Session, *, run_id: str, principal: Principal, learning_rate: float) -> TinkerFuture:
    model = _driven_run(session, run_id=run_id, principal=principal)
    payload = json.dumps({"adam_params": AdamParams(learning_rate=learning_rate).model_dump()}).encode()
    return service.submit(
        session, model=model, kind="optim_step", seq_id=_next_seq(session, model), payload=payload
    )


def save_checkpoint(
    session: Session, *, run_id: str, principal: Principal, name: str, setup: TinkerSetup
) -> TinkerFuture:
    """Save the adapter with its optimizer (`weights`): it resumes training, downloads and deploys."""
    model = _driven_run(session, run_id=run_id, principal=principal)
    return service.save_weights(
        session,
        principal=principal,
        model_id=model.id,
        seq_id=_next_seq(session, model),
        name=name,
        kind="weights",
        setup=setup,
        sampler=False,
    )


def sample(
    session: Session, *, principal: Principal, data: TextSampleRequest, setup: TinkerSetup
) -> TinkerFuture:
    """Text from a run's adapter as it is now (queued after its earlier calls), or from a base model."""
    spec = {
        "prompt": data.prompt,
        "max_new_tokens": data.max_new_tokens,
        "temperature": data.temperature,
        "num_samples": data.num_samples,
        "seed": data.seed,
    }
    payload = json.dumps(spec).encode()
    if data.run_id is not None:
        model = _driven_run(session, run_id=data.run_id, principal=principal)
        return service.submit(
            session, model=model, kind="generate", seq_id=_next_seq(session, model), payload=payload
        )
    base_model = data.base_model or DEMO_MODEL_NAME
    model_path = service.base_model_path(base_model, setup=setup)
    service.check_backlog(session, owner=principal.owner)
    future = TinkerFuture(
        id="req-" + secrets.token_hex(12),
        owner=principal.owner,
        worker_id=workers.assign(
            session,
            base_model=base_model,
            model_path=model_path,
            setup=setup,
            owner_scope=principal.owner_scope,
        ),
        kind="generate",
        payload=payload,
    )
    session.add(future)
    session.flush()
    return future


def end_run(session: Session, *, run_id: str, principal: Principal) -> None:
    """End a run of this API: its session finishes, and its worker lets the adapter go."""
    model = service.get_model(session, model_id=run_id, principal=principal)
    tinker_session = _session_of(session, model)
    if tinker_session.client != CLIENT:
        raise Conflict(
            f"run {run_id!r} belongs to a tinker SDK session; close that session instead",
            param="run_id",
            code="run_of_sdk_session",
        )
    if tinker_session.status == "active":
        tinker_session.status = "finished"
        tinker_session.finish_reason = "deleted"
        tinker_session.finished_at = utcnow()


# -- jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobState:
    read: InteractiveJob
    worker_gone: bool


_JOB_COLUMNS = load_only(
    TinkerFuture.owner,
    TinkerFuture.kind,
    TinkerFuture.model_id,
    TinkerFuture.status,
    TinkerFuture.result_format,
    TinkerFuture.error,
    TinkerFuture.category,
    TinkerFuture.worker_id,
)


def job_state(session: Session, *, job_id: str, principal: Principal) -> JobState:
    future = session.scalar(select(TinkerFuture).options(_JOB_COLUMNS).where(TinkerFuture.id == job_id))
    future = ensure_owned(future, principal, what=f"job {job_id!r}", param="job_id")
    result = None
    if future.status == "done":
        raw = session.scalar(select(TinkerFuture.result).where(TinkerFuture.id == job_id)) or b""
        result = _result(future.kind, raw, proto=future.result_format == "proto")
    error = None
    if future.status == "failed":
        error = InteractiveJobError(
            message=future.error or "the job failed", category=future.category or "unknown"
        )  # type: ignore[arg-type]
    gone = False
    if future.status in ("pending", "running") and future.worker_id is not None:
        worker = session.get(TinkerWorker, future.worker_id)
        gone = worker is None or not workers.is_live(worker)
    read = InteractiveJob(
        job_id=future.id,
        run_id=future.model_id,
        kind=future.kind,
        status=_JOB_STATUS.get(future.status, "pending"),  # type: ignore[arg-type]
        result=result,
        error=error,
    )
    return JobState(read=read, worker_gone=gone)


def _result(kind: str, raw: bytes, *, proto: bool) -> dict[str, Any]:
    if not proto:
        return json.loads(raw)
    if kind == "forward_backward":
        metrics = wire.read_forward_backward_output(raw)
        return {"loss": metrics.get("loss:sum"), "metrics": metrics, "type": "forward_backward"}
    return {"sequences": wire.read_sample_response(raw), "type": "sample"}


# -- checkpoints -----------------------------------------------------------------------------


def checkpoint_info(checkpoint: TinkerCheckpoint) -> SavedCheckpoint:
    return SavedCheckpoint(
        checkpoint_id=checkpoint.id,
        run_id=checkpoint.model_id,
        name=checkpoint.name,
        kind=checkpoint.kind,  # type: ignore[arg-type]
        tinker_path=service.tinker_path(checkpoint.model_id, checkpoint.kind, checkpoint.name),
        size_bytes=checkpoint.size_bytes,
        created_at=checkpoint.created_at,
    )


def list_checkpoints(
    session: Session, *, principal: Principal, run_id: str | None, limit: int, offset: int
) -> SavedCheckpointList:
    stmt = owned(select(TinkerCheckpoint), TinkerCheckpoint, principal)
    if run_id is not None:
        try:
            service.get_model(session, model_id=run_id, principal=principal)
        except NotFound as exc:  # another owner's run too
            raise NotFound(f"run {run_id!r} not found", param="run_id") from exc
        stmt = stmt.where(TinkerCheckpoint.model_id == run_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(TinkerCheckpoint.created_at.desc(), TinkerCheckpoint.id).limit(limit).offset(offset)
    )
    return SavedCheckpointList(data=[checkpoint_info(row) for row in rows], total=total)


def get_checkpoint(session: Session, *, checkpoint_id: str, principal: Principal) -> TinkerCheckpoint:
    return get_owned(
        session, TinkerCheckpoint, checkpoint_id, principal, what="checkpoint", param="checkpoint_id"
    )


def checkpoint_files(session: Session, *, checkpoint_id: str, principal: Principal) -> tuple[Path, str]:
    """Where the caller's checkpoint lies on this host, and its name."""
    checkpoint = get_checkpoint(session, checkpoint_id=checkpoint_id, principal=principal)
    return Path(checkpoint.path), checkpoint.name


def archive(directory: Path, *, name: str, scratch: Path) -> Path:
    """A .tar.gz of a checkpoint's files (regular files only) in `scratch`, named after the checkpoint."""
    if not directory.is_dir():
        raise NotFound("this checkpoint's files are gone from the server", param="checkpoint_id")
    scratch.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=scratch, suffix=".tar.gz", delete=False)  # noqa: SIM115
    # level 1: adapter weights barely compress, and level 9 costs seconds of CPU per 10 MB
    with handle, tarfile.open(fileobj=handle, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=f"{name}/{path.relative_to(directory)}", recursive=False)
    return Path(handle.name)
