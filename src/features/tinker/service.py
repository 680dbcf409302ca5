"""Tinker sessions: opened by the SDK, kept alive by its heartbeat, finished by `close()`."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from src.features.auth.service import Principal
from src.features.models import service as models_service
from src.features.models.service import ModelSources
from src.features.tinker import workers
from src.features.tinker.workers import TinkerSetup
from src.models.errors import Conflict, Gone, Invalid, NotFound, RateLimited
from src.models.tinker import (
    CheckpointList,
    CheckpointRead,
    LoadWeightsIn,
    LoraConfigIn,
    ModelCreate,
    ModelData,
    ModelInfo,
    OffsetCursor,
    SampleIn,
    SamplingSessionCreate,
    ServerCapabilities,
    SessionCreate,
    SessionFinish,
    SupportedModel,
    TrainingRunList,
    TrainingRunRead,
    WeightsInfo,
)
from src.storage.scoping import ensure_owned, get_owned, owned
from src.storage.tables import (
    TinkerCheckpoint,
    TinkerFuture,
    TinkerModel,
    TinkerSampler,
    TinkerSession,
    TinkerWorker,
)
from src.storage.types import utcnow

# the SDK beats every 10 s; a session silent for this long is over (what it trains is let go)
HEARTBEAT_TIMEOUT = timedelta(seconds=120)
MAX_AHEAD = 1024  # seq_ids a model may have queued beyond the last one run (the SDK pipelines a few)
MAX_WAITING_PER_OWNER = 256  # requests one owner may have waiting, all models and samplers together
MAX_LIVE_MODELS_PER_OWNER = 16  # LoRA adapters (each with its optimizer) one owner may hold in the workers


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


def _active_session(session: Session, *, session_id: str, principal: Principal) -> TinkerSession:
    """The caller's session, still beating; a finished or silent one is gone (410)."""
    row = get_session(session, session_id=session_id, principal=principal)
    expire_if_silent(row)
    if row.status != "active":
        raise Gone(f"session {session_id!r} is {row.status}", param="session_id", code="session_ended")
    return row


def session_expired(row: TinkerSession) -> bool:
    """An active session silent for longer than it may be (an SDK's: `HEARTBEAT_TIMEOUT`)."""
    return row.status == "active" and silent_too_long(row.last_heartbeat_at, row.idle_timeout_s)


def silent_too_long(last_heartbeat_at: datetime, idle_timeout_s: int | None) -> bool:
    timeout = timedelta(seconds=idle_timeout_s) if idle_timeout_s else HEARTBEAT_TIMEOUT
    return utcnow() - last_heartbeat_at > timeout


def expire_if_silent(row: TinkerSession) -> None:
    if session_expired(row):
        row.status = "expired"
        row.finished_at = utcnow()


def capabilities(*, sources: ModelSources) -> ServerCapabilities:
    """The base models this server can train and sample: the catalog, the demo model and the model roots."""
    names = sorted(models_service.base_models(sources=sources))
    return ServerCapabilities(supported_models=[SupportedModel(model_name=name) for name in names])


# -- models and their requests ---------------------------------------------------------------


def model_id_for(session_id: str, model_seq_id: int) -> str:
    """The id the SDK itself builds for a session's n-th training model."""
    return f"{session_id}:train:{model_seq_id}"


def create_model(
    session: Session,
    *,
    principal: Principal,
    data: ModelCreate,
    setup: TinkerSetup,
    load: dict[str, Any] | None = None,
    alpha: float | None = None,
) -> tuple[TinkerModel, TinkerFuture]:
    """A LoRA model on a base model this host has, in that base model's worker (started if need be)."""
    tinker_session = _active_session(session, session_id=data.session_id, principal=principal)
    if not (data.lora_config.train_attn or data.lora_config.train_mlp or data.lora_config.train_unembed):
        raise Invalid("train at least one of attn, mlp and unembed", param="lora_config")
    model_id = model_id_for(data.session_id, data.model_seq_id)
    if session.get(TinkerModel, model_id) is not None:
        raise Invalid(f"model {model_id!r} exists already", param="model_seq_id", code="model_exists")
    check_backlog(session, owner=tinker_session.owner)  # before a worker may be started for it
    live = session.scalar(
        select(func.count())
        .select_from(TinkerModel)
        .where(TinkerModel.owner == tinker_session.owner, TinkerModel.status.in_(("creating", "ready")))
    )
    if (live or 0) >= MAX_LIVE_MODELS_PER_OWNER:
        raise Conflict(
            f"{live} models of yours are live (at most {MAX_LIVE_MODELS_PER_OWNER}); end a session or a run",
            param="base_model",
            code="too_many_models",
        )
    model_path = base_model_path(data.base_model, setup=setup)
    worker_id = workers.assign(
        session,
        base_model=data.base_model,
        model_path=model_path,
        setup=setup,
        owner_scope=principal.owner_scope,
    )
    model = TinkerModel(
        id=model_id,
        session_id=data.session_id,
        owner=tinker_session.owner,  # an admin working in a user's session makes that user's model
        base_model=data.base_model,
        lora_rank=data.lora_config.rank,
        lora_config={**data.lora_config.model_dump(), **({"alpha": alpha} if alpha else {})},
        worker_id=worker_id,
        user_metadata=data.user_metadata,
    )
    session.add(model)
    session.flush()
    # load: weights to start from (create-via-load); alpha: the plain run API's choice (else LORA_ALPHA)
    spec = {**data.lora_config.model_dump(), "load": load, "alpha": alpha}
    future = submit(session, model=model, kind="create_model", seq_id=0, payload=json.dumps(spec).encode())
    return model, future


def base_model_path(name: str, *, setup: TinkerSetup) -> Path:
    """The directory of a base model by one of the names `get_server_capabilities` lists, exactly.

    Only those names: another spelling of the same directory (`./m`, `m/`) would start
    a second worker holding a second copy of the model.
    """
    path = models_service.base_models(sources=setup.models).get(name)
    if path is None:
        raise Invalid(
            f"base model {name!r} is not on this server (get_server_capabilities lists them)",
            param="base_model",
            code="unknown_base_model",
        )
    return path


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
    check_backlog(session, owner=model.owner)
    if seq_id > model.last_seq + MAX_AHEAD:
        raise Invalid(
            f"seq_id {seq_id} is more than {MAX_AHEAD} past the last one run ({model.last_seq})",
            param="seq_id",
            code="seq_id_too_far",
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
    try:
        with session.begin_nested():
            session.add(future)
    except IntegrityError:  # the same seq_id from a retry sent while the first was on its way
        session.expunge(future)
        return session.scalars(
            select(TinkerFuture).where(TinkerFuture.model_id == model.id, TinkerFuture.seq_id == seq_id)
        ).one()
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


def check_backlog(session: Session, *, owner: str) -> None:
    """429 once an owner has `MAX_WAITING_PER_OWNER` requests waiting: one key cannot fill a worker."""
    waiting = session.scalar(
        select(func.count())
        .select_from(TinkerFuture)
        .where(TinkerFuture.owner == owner, TinkerFuture.status == "pending")
    )
    if (waiting or 0) >= MAX_WAITING_PER_OWNER:
        raise RateLimited(
            f"{waiting} requests of yours are waiting; wait for some to finish",
            code="too_many_waiting",
            retry_after=5,
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


_STATE_COLUMNS = load_only(
    TinkerFuture.owner,
    TinkerFuture.status,
    TinkerFuture.result_format,
    TinkerFuture.error,
    TinkerFuture.category,
    TinkerFuture.worker_id,
)


def future_state(session: Session, *, request_id: str, principal: Principal) -> FutureState:
    """A request's state, read without its payload; its result only once there is one."""
    future = session.scalar(select(TinkerFuture).options(_STATE_COLUMNS).where(TinkerFuture.id == request_id))
    future = ensure_owned(future, principal, what=f"request {request_id!r}", param="request_id")
    if future.status == "done":
        result = session.scalar(select(TinkerFuture.result).where(TinkerFuture.id == request_id))
        return FutureState(status="done", result=result, result_format=future.result_format)
    gone = False
    if future.status in ("pending", "running") and future.worker_id is not None:
        worker = session.get(TinkerWorker, future.worker_id)
        gone = worker is None or not workers.is_live(worker)
    return FutureState(
        status=future.status,
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


# -- weights and sampling ----------------------------------------------------------------------

TINKER_PATH = re.compile(r"^tinker://(?P<model>[^/]+)/(?P<kind>weights|sampler_weights)/(?P<name>[^/]+)$")


def tinker_path(model_id: str, kind: str, name: str) -> str:
    return f"tinker://{model_id}/{kind}/{name}"


def weights_directory(setup: TinkerSetup, *, model: TinkerModel, kind: str, name: str) -> Path:
    """Where a model's saved weights live on this host (names are checked file names)."""
    return setup.weights_dir / model.owner / model.id.replace(":", "_") / kind / name


def save_weights(
    session: Session,
    *,
    principal: Principal,
    model_id: str,
    seq_id: int,
    name: str | None,
    kind: str,
    setup: TinkerSetup,
    sampler: bool,
) -> TinkerFuture:
    """Queue a save of the model's adapter (`weights` with its optimizer, or `sampler_weights`)."""
    model = get_model(session, model_id=model_id, principal=principal)
    name = name or f"{kind.replace('_', '-')}-{seq_id}"
    existing = session.scalar(
        select(TinkerCheckpoint.id).where(
            TinkerCheckpoint.model_id == model.id,
            TinkerCheckpoint.kind == kind,
            TinkerCheckpoint.name == name,
        )
    )
    earlier = session.scalar(
        select(TinkerFuture).where(TinkerFuture.model_id == model.id, TinkerFuture.seq_id == seq_id)
    )
    if existing is not None and earlier is None:
        raise Invalid(
            f"{tinker_path(model.id, kind, name)} exists already; choose another name", param="path"
        )
    payload = {
        "kind": kind,
        "name": name,
        "directory": str(weights_directory(setup, model=model, kind=kind, name=name)),
        "tinker_path": tinker_path(model.id, kind, name),
        "sampler_id": "samp-" + secrets.token_hex(8) if sampler else None,
        "session_id": model.session_id,
    }
    return submit(
        session, model=model, kind="save_weights", seq_id=seq_id, payload=json.dumps(payload).encode()
    )


def create_sampler(
    session: Session, *, principal: Principal, data: SamplingSessionCreate, setup: TinkerSetup
) -> TinkerSampler:
    """A sampler on a base model, or on weights a model saved (`tinker://` path of the caller's)."""
    tinker_session = _active_session(session, session_id=data.session_id, principal=principal)
    weights_dir = None
    if data.model_path is not None:
        checkpoint = checkpoint_by_path(session, path=data.model_path, principal=principal)
        base_model = session.get(TinkerModel, checkpoint.model_id).base_model  # type: ignore[union-attr]
        weights_dir = checkpoint.path
    elif data.base_model is not None:
        base_model = data.base_model
    else:
        raise Invalid("name a base_model or a model_path", param="base_model")
    model_path = base_model_path(base_model, setup=setup)
    sampler = TinkerSampler(
        id="samp-" + secrets.token_hex(8),
        session_id=data.session_id,
        owner=tinker_session.owner,
        base_model=base_model,
        model_path=data.model_path,
        weights_dir=weights_dir,
        worker_id=workers.assign(
            session,
            base_model=base_model,
            model_path=model_path,
            setup=setup,
            owner_scope=principal.owner_scope,
        ),
    )
    session.add(sampler)
    session.flush()
    return sampler


def checkpoint_by_path(
    session: Session, *, path: str, principal: Principal, param: str = "model_path"
) -> TinkerCheckpoint:
    """The caller's saved weights at a `tinker://<model>/<kind>/<name>` path, or 404."""
    match = TINKER_PATH.match(path)
    if match is None:
        raise Invalid(
            f"{path!r} is not a tinker://<model>/<weights|sampler_weights>/<name> path", param=param
        )
    checkpoint = session.scalar(
        owned(
            select(TinkerCheckpoint).where(
                TinkerCheckpoint.model_id == match["model"],
                TinkerCheckpoint.kind == match["kind"],
                TinkerCheckpoint.name == match["name"],
            ),
            TinkerCheckpoint,
            principal,
        )
    )
    if checkpoint is None:
        raise NotFound(f"checkpoint {path!r} not found", param=param)
    return checkpoint


def base_model_of(session: Session, checkpoint: TinkerCheckpoint) -> str:
    """The base model a checkpoint's adapter was trained on."""
    model = session.get(TinkerModel, checkpoint.model_id)
    assert model is not None  # the checkpoint's model row stays as long as the checkpoint
    return model.base_model


def get_sampler(session: Session, *, sampler_id: str, principal: Principal) -> TinkerSampler:
    return get_owned(session, TinkerSampler, sampler_id, principal, what="sampler", param="sampler_id")


def sample(session: Session, *, principal: Principal, data: SampleIn, setup: TinkerSetup) -> TinkerFuture:
    """Queue a sample on the caller's sampler (its worker restarted if it was gone)."""
    sampler = get_sampler(session, sampler_id=data.sampling_session_id, principal=principal)
    _active_session(session, session_id=sampler.session_id, principal=principal)
    check_backlog(session, owner=sampler.owner)
    worker = session.get(TinkerWorker, sampler.worker_id) if sampler.worker_id else None
    if worker is None or not workers.is_live(worker):
        model_path = models_service.resolve(sampler.base_model, sources=setup.models)
        if model_path is None:
            raise Invalid(
                f"base model {sampler.base_model!r} is no longer on this server", param="sampling_session_id"
            )
        sampler.worker_id = workers.assign(
            session,
            base_model=sampler.base_model,
            model_path=model_path,
            setup=setup,
            owner_scope=principal.owner_scope,
        )
    payload = data.model_dump(mode="json")
    payload["weights_dir"] = sampler.weights_dir
    future = TinkerFuture(
        id="req-" + secrets.token_hex(12),
        owner=sampler.owner,
        worker_id=sampler.worker_id,
        kind="sample",
        payload=json.dumps(payload).encode(),
    )
    session.add(future)
    session.flush()
    return future


# -- what the RestClient reads -----------------------------------------------------------------

_CHECKPOINT_TYPE = {"weights": "training", "sampler_weights": "sampler"}


def checkpoint_read(checkpoint: TinkerCheckpoint) -> CheckpointRead:
    return CheckpointRead(
        checkpoint_id=f"{checkpoint.kind}/{checkpoint.name}",
        checkpoint_type=_CHECKPOINT_TYPE[checkpoint.kind],  # type: ignore[arg-type]
        time=checkpoint.created_at,
        tinker_path=tinker_path(checkpoint.model_id, checkpoint.kind, checkpoint.name),
        size_bytes=checkpoint.size_bytes,
    )


def training_runs(session: Session, *, principal: Principal, limit: int, offset: int) -> TrainingRunList:
    """The caller's models, newest first, with their last request and checkpoints: three queries a page."""
    scoped = owned(select(TinkerModel), TinkerModel, principal)
    total = session.scalar(select(func.count()).select_from(scoped.subquery())) or 0
    models = list(
        session.scalars(
            scoped.order_by(TinkerModel.created_at.desc(), TinkerModel.id).limit(limit).offset(offset)
        )
    )
    return TrainingRunList(
        training_runs=_run_reads(session, models),
        cursor=OffsetCursor(offset=offset, limit=limit, total_count=total),
    )


def training_run(session: Session, *, model_id: str, principal: Principal) -> TrainingRunRead:
    return _run_reads(session, [get_model(session, model_id=model_id, principal=principal)])[0]


def _run_reads(session: Session, models: list[TinkerModel]) -> list[TrainingRunRead]:
    ids = [model.id for model in models]
    last_request: dict[str, datetime] = {}
    newest: dict[tuple[str, str], TinkerCheckpoint] = {}
    if ids:
        stmt = (
            select(TinkerFuture.model_id, func.max(TinkerFuture.created_at))
            .where(TinkerFuture.model_id.in_(ids))
            .group_by(TinkerFuture.model_id)
        )
        last_request = {model_id: at for model_id, at in session.execute(stmt)}
        checkpoints = session.scalars(
            select(TinkerCheckpoint)
            .where(TinkerCheckpoint.model_id.in_(ids))
            .order_by(TinkerCheckpoint.created_at)
        )
        newest = {(c.model_id, c.kind): c for c in checkpoints}
    reads = []
    for model in models:
        training, sampler = newest.get((model.id, "weights")), newest.get((model.id, "sampler_weights"))
        reads.append(
            TrainingRunRead(
                training_run_id=model.id,
                base_model=model.base_model,
                model_owner=model.owner,
                corrupted=model.status == "failed",
                lora_rank=model.lora_rank,
                last_request_time=last_request.get(model.id, model.created_at),
                last_checkpoint=checkpoint_read(training) if training else None,
                last_sampler_checkpoint=checkpoint_read(sampler) if sampler else None,
                # the SDK's TrainingRun takes string values only
                user_metadata={key: str(value) for key, value in (model.user_metadata or {}).items()} or None,
            )
        )
    return reads


def checkpoints(session: Session, *, model_id: str, principal: Principal) -> CheckpointList:
    model = get_model(session, model_id=model_id, principal=principal)
    rows = session.scalars(
        select(TinkerCheckpoint)
        .where(TinkerCheckpoint.model_id == model.id)
        .order_by(TinkerCheckpoint.created_at)
    )
    return CheckpointList(checkpoints=[checkpoint_read(row) for row in rows])


def delete_checkpoint(session: Session, *, model_id: str, checkpoint_id: str, principal: Principal) -> Path:
    """Forget a checkpoint; returns its directory, for the caller to remove once the delete commits."""
    model = get_model(session, model_id=model_id, principal=principal)
    kind, _, name = checkpoint_id.partition("/")
    checkpoint = session.scalar(
        select(TinkerCheckpoint).where(
            TinkerCheckpoint.model_id == model.id,
            TinkerCheckpoint.kind == kind,
            TinkerCheckpoint.name == name,
        )
    )
    if checkpoint is None:
        raise NotFound(f"checkpoint {checkpoint_id!r} of {model_id!r} not found", param="checkpoint_id")
    directory = Path(checkpoint.path)
    session.delete(checkpoint)
    return directory


def weights_info(session: Session, *, path: str, principal: Principal) -> WeightsInfo:
    checkpoint = checkpoint_by_path(session, path=path, principal=principal, param="tinker_path")
    model = session.get(TinkerModel, checkpoint.model_id)
    assert model is not None
    config = model.lora_config or {}
    return WeightsInfo(
        base_model=model.base_model,
        lora_rank=model.lora_rank,
        train_unembed=config.get("train_unembed"),
        train_mlp=config.get("train_mlp"),
        train_attn=config.get("train_attn"),
    )


def _layers(model: TinkerModel) -> tuple[bool, bool, bool]:
    """Which layers a model's LoRA trains: weights load only into a model with the same ones."""
    config = model.lora_config or {}
    return tuple(bool(config.get(key, True)) for key in ("train_attn", "train_mlp", "train_unembed"))  # type: ignore[return-value]


def load_weights(
    session: Session, *, principal: Principal, data: LoadWeightsIn, setup: TinkerSetup
) -> TinkerFuture:
    """Load saved weights into a model (`load_state`), or create a model from them."""
    checkpoint = checkpoint_by_path(session, path=data.path, principal=principal, param="path")
    source = session.get(TinkerModel, checkpoint.model_id)
    assert source is not None
    load = {"directory": checkpoint.path, "optimizer": data.optimizer, "path": data.path}
    if data.model_id is not None and data.seq_id is not None:
        model = get_model(session, model_id=data.model_id, principal=principal)
        if (model.base_model, model.lora_rank, _layers(model)) != (
            source.base_model,
            source.lora_rank,
            _layers(source),
        ):
            raise Invalid(
                f"{data.path} holds rank {source.lora_rank} weights of {source.base_model!r} for layers "
                f"{_layers(source)}; model {model.id!r} is rank {model.lora_rank} on {model.base_model!r} "
                f"for {_layers(model)} (attn, mlp, unembed)",
                param="path",
                code="weights_mismatch",
            )
        return submit(
            session, model=model, kind="load_weights", seq_id=data.seq_id, payload=json.dumps(load).encode()
        )
    if data.session_id is None or data.model_seq_id is None:
        raise Invalid(
            "name the model (model_id and seq_id) or the new one (session_id and model_seq_id)",
            param="model_id",
        )
    if data.base_model is not None and data.base_model != source.base_model:
        raise Invalid(
            f"{data.path} holds weights of {source.base_model!r}", param="base_model", code="weights_mismatch"
        )
    create = ModelCreate(
        session_id=data.session_id,
        model_seq_id=data.model_seq_id,
        base_model=source.base_model,
        lora_config=LoraConfigIn.model_validate(source.lora_config),
        user_metadata=data.user_metadata,
    )
    alpha = (source.lora_config or {}).get("alpha")  # the plain run API's adapters may have their own
    _model, future = create_model(
        session, principal=principal, data=create, setup=setup, load=load, alpha=alpha
    )
    return future
