"""Routes of the Tinker-compatible API under `/api/v1/`: what the official `tinker` SDK calls.

The SDK sends its key as `X-API-Key` (a bearer key works too) and JSON bodies that
carry a `type` tag; docs/tinker-wire.md maps every route to the SDK's source.
Sessions are owner-scoped like everything else: another owner's id is a 404.
"""

from __future__ import annotations

import shutil
from typing import Annotated, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.deps import TINKER_PREFIX, ApiKeyPrincipalDep, ReadDep, SessionDep, SettingsDep, StoreDep
from src.features.auth.service import Principal
from src.features.models.service import ModelSources
from src.features.tinker import service, wire
from src.features.tinker.workers import TinkerSetup
from src.models.common import Message
from src.models.errors import Invalid, error_responses
from src.models.tinker import (
    MODEL_ID_PATTERN,
    REQUEST_EXAMPLE,
    SESSION_ID_PATTERN,
    CheckpointList,
    ClientConfig,
    ClientConfigRequest,
    DynamicConfig,
    FutureQueued,
    FutureRetrieve,
    HeartbeatAnswer,
    LoadWeightsIn,
    ModelCreate,
    ModelInfo,
    ModelInfoRequest,
    OptimStep,
    SampleIn,
    SampleQueued,
    SamplerRead,
    SamplingSessionCreate,
    SamplingSessionCreated,
    SaveWeights,
    SaveWeightsForSampler,
    ServerCapabilities,
    SessionCreate,
    SessionCreated,
    SessionFinish,
    SessionFinished,
    SessionHeartbeat,
    TelemetryAccepted,
    TelemetryBatch,
    TinkerHealth,
    TrainingRunList,
    TrainingRunRead,
    WeightsInfo,
    WeightsInfoRequest,
)
from src.storage import Store

router = APIRouter(prefix=TINKER_PREFIX, tags=["tinker"], responses=error_responses(400, 401, 422))

SessionIdPath = Annotated[
    str, Path(pattern=SESSION_ID_PATTERN, description="a session id from create_session")
]


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_setup(request: Request) -> TinkerSetup:
    return request.app.state.tinker_setup


async def get_model_sources(request: Request) -> ModelSources:
    return request.app.state.tinker_setup.models


async def raw_body(request: Request) -> bytes:
    """The body as sent (capped by the body guard), for the protobuf routes."""
    return await request.body()


SetupDep = Annotated[TinkerSetup, Depends(get_setup)]
ModelSourcesDep = Annotated[ModelSources, Depends(get_model_sources)]
RawBodyDep = Annotated[bytes, Depends(raw_body)]
PROTOBUF_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            wire.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "a `tinker_public.ForwardBackwardRequest` (the SDK's protobuf message), zstd allowed; "
        "the bytes are read whatever the content type",
    }
}
# retrieve_future answers a JSON result, a protobuf one, `try_again`, or `{"error", "category"}`
FUTURE_ANSWERS = {
    200: {
        "description": "the result (JSON or protobuf), `try_again` after about 25 s, or the error",
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "examples": {
                    "result": {"value": {"metrics": {}, "type": "optim_step"}},
                    "try_again": {
                        "value": {"type": "try_again", "request_id": REQUEST_EXAMPLE, "queue_state": "active"}
                    },
                    "error": {
                        "value": {
                            "error": "datum 0 has token ids outside the vocabulary (0..264)",
                            "category": "user",
                        }
                    },
                },
            },
            wire.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
LONG_POLL_SECONDS = 25.0  # the SDK waits 45 s for an answer, then polls again at once


@router.post("/client/config", response_model=ClientConfig)
async def client_config(body: ClientConfigRequest, principal: ApiKeyPrincipalDep) -> ClientConfig:
    """The SDK's first call: plain API keys, httpx, uncompressed protobuf."""
    return ClientConfig()


@router.post("/client/dynamic_config", response_model=DynamicConfig)
async def client_dynamic_config(body: ClientConfigRequest, principal: ApiKeyPrincipalDep) -> DynamicConfig:
    """Settings the SDK refreshes while it runs."""
    return DynamicConfig()


@router.get("/healthz", response_model=TinkerHealth)
async def tinker_healthz() -> TinkerHealth:
    """The SDK's liveness check."""
    return TinkerHealth()


@router.get("/get_server_capabilities", response_model=ServerCapabilities)
async def get_server_capabilities(
    principal: ApiKeyPrincipalDep, sources: ModelSourcesDep
) -> ServerCapabilities:
    """The base models this server can train and sample (names as `create_model` takes them)."""
    return service.capabilities(sources=sources)


@router.post("/create_session", response_model=SessionCreated, responses=error_responses(413))
def create_session(body: SessionCreate, session: SessionDep, principal: ApiKeyPrincipalDep) -> SessionCreated:
    """Open a session for the caller; its heartbeat keeps what it trains alive."""
    row = service.create_session(session, principal=principal, data=body)
    return SessionCreated(session_id=row.id)


@router.post("/session_heartbeat", response_model=HeartbeatAnswer, responses=error_responses(404, 410))
def session_heartbeat(
    body: SessionHeartbeat, session: SessionDep, principal: ApiKeyPrincipalDep
) -> HeartbeatAnswer:
    """Keep a session alive (the SDK beats every 10 s); a finished or expired one answers 410."""
    service.heartbeat(session, session_id=body.session_id, principal=principal)
    return HeartbeatAnswer()


@router.post("/sessions/{session_id}/finish", response_model=SessionFinished, responses=error_responses(404))
def finish_session(
    session_id: SessionIdPath, body: SessionFinish, session: SessionDep, principal: ApiKeyPrincipalDep
) -> SessionFinished:
    """End a session (the SDK's `close()`)."""
    row = service.finish(session, session_id=session_id, principal=principal, data=body)
    return SessionFinished(session_id=row.id)


@router.post("/telemetry", response_model=TelemetryAccepted)
async def telemetry(body: TelemetryBatch, principal: ApiKeyPrincipalDep) -> TelemetryAccepted:
    """The SDK's usage events: accepted and dropped (nothing leaves an air-gapped host)."""
    return TelemetryAccepted()


@router.post("/create_model", response_model=FutureQueued, responses=error_responses(404, 410))
def create_model(
    body: ModelCreate, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> FutureQueued:
    """A LoRA model on a base model this host has; the future answers once its worker holds it."""
    model, future = service.create_model(session, principal=principal, data=body, setup=setup)
    return FutureQueued(request_id=future.id, model_id=model.id)


@router.post("/get_info", response_model=ModelInfo, responses=error_responses(404))
async def get_info(
    body: ModelInfoRequest, read: ReadDep, principal: ApiKeyPrincipalDep, sources: ModelSourcesDep
) -> ModelInfo:
    """A model's base model, and a tokenizer that loads offline (a path on this host)."""
    return await read(service.model_info, model_id=body.model_id, principal=principal, sources=sources)


@router.post(
    "/forward_backward",
    response_model=FutureQueued,
    responses=error_responses(404),
    openapi_extra=PROTOBUF_BODY,
)
def forward_backward(
    body: RawBodyDep,
    session: SessionDep,
    principal: ApiKeyPrincipalDep,
    request: Request,
    settings: SettingsDep,
) -> FutureQueued:
    """Queue a forward (and backward) pass: the SDK's protobuf `ForwardBackwardRequest`."""
    try:
        raw = wire.decompress(
            body,
            encoding=request.headers.get("content-encoding"),
            limit=settings.uploads.max_body_bytes,
        )
        message = wire.parse_forward_backward(raw)
        wire.check_request_size(message, max_tokens=wire.MAX_REQUEST_TOKENS)
    except wire.WireError as exc:
        raise Invalid(str(exc), param="body", code="bad_protobuf") from exc
    if message.seq_id < 1:
        raise Invalid("seq_id starts at 1", param="seq_id")
    future = service.submit_for(
        session,
        model_id=message.model_id,
        principal=principal,
        kind="forward_backward",
        seq_id=message.seq_id,
        payload=raw,
    )
    return FutureQueued(request_id=future.id, model_id=message.model_id)


@router.post("/optim_step", response_model=FutureQueued, responses=error_responses(404))
def optim_step(body: OptimStep, session: SessionDep, principal: ApiKeyPrincipalDep) -> FutureQueued:
    """Queue an AdamW step over the gradients gathered since the last one."""
    future = service.submit_for(
        session,
        model_id=body.model_id,
        principal=principal,
        kind="optim_step",
        seq_id=body.seq_id,
        payload=body.model_dump_json().encode(),
    )
    return FutureQueued(request_id=future.id, model_id=body.model_id)


@router.post("/retrieve_future", response_model=None, responses={**FUTURE_ANSWERS, **error_responses(404)})
async def retrieve_future(
    body: FutureRetrieve, read: ReadDep, principal: ApiKeyPrincipalDep, store: StoreDep
) -> Response:
    """The request's result once its worker has run it; holds the call up to 25 s, then `try_again`."""
    deadline = anyio.current_time() + LONG_POLL_SECONDS
    pause = FIRST_POLL_SECONDS
    while True:
        state = await read(service.future_state, request_id=body.request_id, principal=principal)
        if state.status == "done":
            if state.result_format == "proto":
                return Response(state.result, media_type=wire.PROTOBUF)
            return Response(state.result, media_type="application/json")
        if state.status == "failed":
            return JSONResponse(
                {"error": state.error or "the request failed", "category": state.category or "unknown"}
            )
        if state.worker_gone:
            await anyio.to_thread.run_sync(_fail_gone_worker, store, body.request_id)
            continue
        if anyio.current_time() >= deadline:
            return JSONResponse({"type": "try_again", "request_id": body.request_id, "queue_state": "active"})
        await anyio.sleep(pause)
        pause = min(pause * 1.5, MAX_POLL_SECONDS)


# The result is seen at most one pause after the worker wrote it, and that lag is paid on every call
# of a training loop: keep it small. Each look is one indexed read (~0.5 ms of CPU), so 40 a second
# for a request someone waits on.
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.025


def _fail_gone_worker(store: Store, request_id: str) -> None:
    with store.session_scope() as session:
        service.fail_gone_worker(session, request_id=request_id)


@router.post("/save_weights_for_sampler", response_model=FutureQueued, responses=error_responses(404))
def save_weights_for_sampler(
    body: SaveWeightsForSampler, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> FutureQueued:
    """Save the adapter for sampling; the answer has its `tinker://` path and a sampler on it."""
    future = service.save_weights(
        session,
        principal=principal,
        model_id=body.model_id,
        seq_id=body.seq_id,
        name=body.path,
        kind="sampler_weights",
        setup=setup,
        sampler=True,
    )
    return FutureQueued(request_id=future.id, model_id=body.model_id)


@router.post("/save_weights", response_model=FutureQueued, responses=error_responses(404))
def save_weights(
    body: SaveWeights, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> FutureQueued:
    """Save the adapter and its optimizer state (the SDK's `save_state`)."""
    future = service.save_weights(
        session,
        principal=principal,
        model_id=body.model_id,
        seq_id=body.seq_id,
        name=body.path,
        kind="weights",
        setup=setup,
        sampler=False,
    )
    return FutureQueued(request_id=future.id, model_id=body.model_id)


@router.post(
    "/create_sampling_session", response_model=SamplingSessionCreated, responses=error_responses(404, 410)
)
def create_sampling_session(
    body: SamplingSessionCreate, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> SamplingSessionCreated:
    """A sampler on a base model, or on weights saved with `save_weights_for_sampler`."""
    sampler = service.create_sampler(session, principal=principal, data=body, setup=setup)
    return SamplingSessionCreated(sampling_session_id=sampler.id)


@router.get("/samplers/{sampler_id}", response_model=SamplerRead, responses=error_responses(404))
async def get_sampler(
    sampler_id: Annotated[str, Path(max_length=64)], read: ReadDep, principal: ApiKeyPrincipalDep
) -> SamplerRead:
    """A sampler's base model and weights."""
    return await read(_sampler_read, sampler_id=sampler_id, principal=principal)


def _sampler_read(session: Session, *, sampler_id: str, principal: Principal) -> SamplerRead:
    sampler = service.get_sampler(session, sampler_id=sampler_id, principal=principal)
    return SamplerRead(sampler_id=sampler.id, base_model=sampler.base_model, model_path=sampler.model_path)


@router.post("/asample", response_model=SampleQueued, responses=error_responses(404))
def asample(
    body: SampleIn, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> SampleQueued:
    """Queue `num_samples` continuations of a token prompt; the result is a protobuf `SampleResponse`."""
    future = service.sample(session, principal=principal, data=body, setup=setup)
    return SampleQueued(
        request_id=future.id, sample_sequence_ids=[f"{future.id}-{i}" for i in range(body.num_samples)]
    )


# -- the RestClient's reads ------------------------------------------------------------------------

ModelIdPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, description="a model id from create_model")]


@router.get("/training_runs", response_model=TrainingRunList)
async def list_training_runs(
    read: ReadDep,
    principal: ApiKeyPrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    access_scope: Annotated[Literal["owned", "accessible"], Query()] = "owned",
) -> TrainingRunList:
    """The caller's training models (LoRA models), newest first."""
    return await read(service.training_runs, principal=principal, limit=limit, offset=offset)


@router.get("/training_runs/{model_id}", response_model=TrainingRunRead, responses=error_responses(404))
async def get_training_run(
    model_id: ModelIdPath,
    read: ReadDep,
    principal: ApiKeyPrincipalDep,
    access_scope: Annotated[Literal["owned", "accessible"], Query()] = "owned",
) -> TrainingRunRead:
    """One training model, with its last request and checkpoints."""
    return await read(service.training_run, model_id=model_id, principal=principal)


@router.get(
    "/training_runs/{model_id}/checkpoints", response_model=CheckpointList, responses=error_responses(404)
)
async def list_checkpoints(
    model_id: ModelIdPath, read: ReadDep, principal: ApiKeyPrincipalDep
) -> CheckpointList:
    """A model's saved weights, oldest first."""
    return await read(service.checkpoints, model_id=model_id, principal=principal)


@router.delete(
    "/training_runs/{model_id}/checkpoints/{checkpoint_id:path}",
    response_model=Message,
    responses=error_responses(404),
)
def delete_checkpoint(
    model_id: ModelIdPath,
    checkpoint_id: Annotated[
        str, Path(max_length=160, description="`weights/<name>` or `sampler_weights/<name>`")
    ],
    session: SessionDep,
    principal: ApiKeyPrincipalDep,
    after_commit: BackgroundTasks,
) -> Message:
    """Delete saved weights (the files go once the delete is committed)."""
    directory = service.delete_checkpoint(
        session, model_id=model_id, checkpoint_id=checkpoint_id, principal=principal
    )
    after_commit.add_task(
        shutil.rmtree, directory, ignore_errors=True
    )  # background tasks run after the commit
    return Message(detail=f"checkpoint {checkpoint_id!r} deleted")


@router.post("/weights_info", response_model=WeightsInfo, responses=error_responses(404))
async def weights_info(body: WeightsInfoRequest, read: ReadDep, principal: ApiKeyPrincipalDep) -> WeightsInfo:
    """The base model and LoRA settings behind a `tinker://` path of the caller's."""
    return await read(service.weights_info, path=body.tinker_path, principal=principal)


@router.post("/load_weights", response_model=FutureQueued, responses=error_responses(404, 410))
def load_weights(
    body: LoadWeightsIn, session: SessionDep, principal: ApiKeyPrincipalDep, setup: SetupDep
) -> FutureQueued:
    """Load saved weights into a model (`load_state`), or start a model from them."""
    future = service.load_weights(session, principal=principal, data=body, setup=setup)
    return FutureQueued(request_id=future.id, model_id=future.model_id)
