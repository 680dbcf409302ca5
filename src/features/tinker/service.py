"""Tinker sessions: opened by the SDK, kept alive by its heartbeat, finished by `close()`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.models import service as models_service
from src.features.models.service import ModelSources
from src.features.tinker import workers
from src.features.tinker.workers import TinkerSetup
from src.models.errors import Gone, Invalid
from src.models.tinker import (
    ModelCreate,
    ModelData,
    ModelInfo,
    ServerCapabilities,
    SessionCreate,
    SessionFinish,
    SupportedModel,
)
from src.storage.scoping import get_owned
from src.storage.tables import TinkerFuture, TinkerModel, TinkerSession, TinkerWorker
from src.storage.types import utcnow

# the SDK beats every 10 s; a session silent for this long is over (what it trains is let go)
HEARTBEAT_TIMEOUT = timedelta(seconds=120)


def new_session_id() -> str:
    return "sess-" + secrets.token_hex(8)


def create_session(session: Session, *, principal: Principal, data: SessionCreate) -> TinkerSession:
    row = TinkerSession(
        id=new_session_id(),
        owner=principal.owner,
        tags=data.tags,
        user_metadata=data.user_metadata,
        display_name=data.display_name,
        sdk_version=data.sdk_version,
    )
    session.add(row)
    session.flush()
    return row


def get_session(session: Session, *, session_id: str, principal: Principal) -> TinkerSession:
    """The caller's session, or 404 (another owner's is not found either)."""
    return get_owned(session, TinkerSession, session_id, principal, what="session", param="session_id")


def heartbeat(session: Session, *, session_id: str, principal: Principal) -> TinkerSession:
    """Keep an active session alive; a finished or expired one is gone (410)."""
    row = get_session(session, session_id=session_id, principal=principal)
    expire_if_silent(row)
    if row.status != "active":
        raise Gone(f"session {session_id!r} is {row.status}", param="session_id", code="session_ended")
    row.last_heartbeat_at = utcnow()
    return row


def finish(session: Session, *, session_id: str, principal: Principal, data: SessionFinish) -> TinkerSession:
    """End a session (the SDK's `close()`); finishing it again changes nothing."""
    row = get_session(session, session_id=session_id, principal=principal)
    if row.status == "active":
        row.status = "finished"
        row.finish_reason = data.reason.type
        row.finish_detail = data.detail
        row.finished_at = utcnow()
    return row


def session_expired(row: TinkerSession) -> bool:
    """An active session whose heartbeat stopped more than `HEARTBEAT_TIMEOUT` ago."""
    return row.status == "active" and utcnow() - row.last_heartbeat_at > HEARTBEAT_TIMEOUT


def expire_if_silent(row: TinkerSession) -> None:
    if session_expired(row):
        row.status = "expired"
        row.finished_at = utcnow()


def expire_silent_sessions(session: Session) -> int:
    """Mark every active session whose heartbeat stopped as expired; returns how many."""
    now = utcnow()
    result = session.execute(
        update(TinkerSession)
        .where(TinkerSession.status == "active", TinkerSession.last_heartbeat_at < now - HEARTBEAT_TIMEOUT)
        .values(status="expired", finished_at=now)
    )
    return result.rowcount or 0


def capabilities(*, sources: ModelSources) -> ServerCapabilities:
    """The base models this server can train and sample: the catalog, the demo model and the model roots."""
    names = sorted(models_service.base_models(sources=sources))
    return ServerCapabilities(supported_models=[SupportedModel(model_name=name) for name in names])


# -- models and their requests ---------------------------------------------------------------


def model_id_for(session_id: str, model_seq_id: int) -> str:
    """The id the SDK itself builds for a session's n-th training model."""
    return f"{session_id}:train:{model_seq_id}"


def create_model(
    session: Session, *, principal: Principal, data: ModelCreate, setup: TinkerSetup
) -> tuple[TinkerModel, TinkerFuture]:
    """A LoRA model on a base model this host has, in that base model's worker (started if need be)."""
    tinker_session = get_session(session, session_id=data.session_id, principal=principal)
    expire_if_silent(tinker_session)
    if tinker_session.status != "active":
        raise Gone(
            f"session {data.session_id!r} is {tinker_session.status}",
            param="session_id",
            code="session_ended",
        )
    model_path = models_service.resolve(data.base_model, sources=setup.models)
    if model_path is None:
        raise Invalid(
            f"base model {data.base_model!r} is not on this server (get_server_capabilities lists them)",
            param="base_model",
            code="unknown_base_model",
        )
    if not (data.lora_config.train_attn or data.lora_config.train_mlp or data.lora_config.train_unembed):
        raise Invalid("train at least one of attn, mlp and unembed", param="lora_config")
    model_id = model_id_for(data.session_id, data.model_seq_id)
    if session.get(TinkerModel, model_id) is not None:
        raise Invalid(f"model {model_id!r} exists already", param="model_seq_id", code="model_exists")
    worker_id = workers.assign(session, base_model=data.base_model, model_path=model_path, setup=setup)
    model = TinkerModel(
        id=model_id,
        session_id=data.session_id,
        owner=principal.owner,
        base_model=data.base_model,
        lora_rank=data.lora_config.rank,
        lora_config=data.lora_config.model_dump(),
        worker_id=worker_id,
    )
    session.add(model)
    session.flush()
    future = submit(
        session,
        model=model,
        kind="create_model",
        seq_id=0,
        payload=data.lora_config.model_dump_json().encode(),
    )
    return model, future


def get_model(session: Session, *, model_id: str, principal: Principal) -> TinkerModel:
    return get_owned(session, TinkerModel, model_id, principal, what="model", param="model_id")


def model_info(session: Session, *, model_id: str, principal: Principal, sources: ModelSources) -> ModelInfo:
    """What `TrainingClient` asks once: the base model's name, and a tokenizer that loads offline (a path)."""
    model = get_model(session, model_id=model_id, principal=principal)
    path = models_service.resolve(model.base_model, sources=sources)
    return ModelInfo(
        model_id=model.id,
        model_data=ModelData(
            model_name=model.base_model, tokenizer_id=str(path) if path else model.base_model
        ),
        lora_rank=model.lora_rank,
        model_name=model.base_model,
    )


def submit(session: Session, *, model: TinkerModel, kind: str, seq_id: int, payload: bytes) -> TinkerFuture:
    """Queue a request of `model` for its worker; a seq_id sent again (an SDK retry) gets its first answer."""
    if model.status not in ("creating", "ready"):
        raise Invalid(f"model {model.id!r} is {model.status}", param="model_id", code="model_unavailable")
    earlier = session.scalar(
        select(TinkerFuture).where(TinkerFuture.model_id == model.id, TinkerFuture.seq_id == seq_id)
    )
    if earlier is not None:
        return earlier
    if seq_id <= model.last_seq and kind != "create_model":
        raise Invalid(
            f"seq_id {seq_id} of model {model.id!r} has run already", param="seq_id", code="seq_id_used"
        )
    future = TinkerFuture(
        id="req-" + secrets.token_hex(12),
        owner=model.owner,
        model_id=model.id,
        worker_id=model.worker_id,
        kind=kind,
        seq_id=seq_id,
        payload=payload,
    )
    session.add(future)
    session.flush()
    return future


def submit_for(
    session: Session, *, model_id: str, principal: Principal, kind: str, seq_id: int, payload: bytes
) -> TinkerFuture:
    return submit(
        session,
        model=get_model(session, model_id=model_id, principal=principal),
        kind=kind,
        seq_id=seq_id,
        payload=payload,
    )


@dataclass(frozen=True)
class FutureState:
    """A request as `retrieve_future` answers it."""

    status: str
    result: bytes | None = None
    result_format: str | None = None
    error: str | None = None
    category: str | None = None
    worker_gone: bool = False


def future_state(session: Session, *, request_id: str, principal: Principal) -> FutureState:
    future = get_owned(session, TinkerFuture, request_id, principal, what="request", param="request_id")
    gone = False
    if future.status in ("pending", "running") and future.worker_id is not None:
        worker = session.get(TinkerWorker, future.worker_id)
        gone = worker is None or not workers.is_live(worker)
    return FutureState(
        status=future.status,
        result=future.result,
        result_format=future.result_format,
        error=future.error,
        category=future.category,
        worker_gone=gone,
    )


def fail_gone_worker(session: Session, *, request_id: str) -> None:
    """The request's worker stopped: fail everything it held (category `server`)."""
    future = session.get(TinkerFuture, request_id)
    if future is None or future.worker_id is None:
        return
    worker = session.get(TinkerWorker, future.worker_id)
    if worker is not None and not workers.is_live(worker):
        workers.mark_gone(session, worker, reason="the worker stopped before answering")
