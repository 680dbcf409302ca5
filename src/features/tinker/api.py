"""Routes of the Tinker-compatible API under `/api/v1/`: what the official `tinker` SDK calls.

The SDK sends its key as `X-API-Key` (a bearer key works too) and JSON bodies that
carry a `type` tag; docs/tinker-wire.md maps every route to the SDK's source.
Sessions are owner-scoped like everything else: another owner's id is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from app.deps import TINKER_PREFIX, ApiKeyPrincipalDep, SessionDep
from src.features.models.service import ModelSources
from src.features.tinker import service
from src.models.errors import error_responses
from src.models.tinker import (
    SESSION_ID_PATTERN,
    ClientConfig,
    ClientConfigRequest,
    DynamicConfig,
    HeartbeatAnswer,
    ServerCapabilities,
    SessionCreate,
    SessionCreated,
    SessionFinish,
    SessionFinished,
    SessionHeartbeat,
    TelemetryAccepted,
    TelemetryBatch,
    TinkerHealth,
)

router = APIRouter(prefix=TINKER_PREFIX, tags=["tinker"], responses=error_responses(400, 401, 422))

SessionIdPath = Annotated[
    str, Path(pattern=SESSION_ID_PATTERN, description="a session id from create_session")
]


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_model_sources(request: Request) -> ModelSources:
    return request.app.state.tuning_setup.models


ModelSourcesDep = Annotated[ModelSources, Depends(get_model_sources)]


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
