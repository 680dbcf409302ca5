"""Wire shapes of the Tinker-compatible API (`/api/v1/`), as the `tinker` SDK 0.38.0 sends and reads them.

docs/tinker-wire.md records where each field comes from in the SDK's source. Requests
accept the fields the SDK always sends (including its `type` tags) and ignore
others, so a newer SDK that adds a field still connects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.models.examples import BASE_MODEL

# the SDK's own ids are opaque strings; ours are short and safe in a URL path
SESSION_ID_PATTERN = r"^sess-[0-9a-f]{16}$"
SESSION_EXAMPLE = "sess-5e1f0c2a9b7d4e38"


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ClientConfigRequest(_Request):
    sdk_version: str | None = Field(default=None, max_length=64)


class ClientConfig(BaseModel):
    """What the SDK is told at start: plain API keys (no JWT exchange), httpx, uncompressed protobuf."""

    pjwt_auth_enabled: bool = False
    use_pyqwest_transport: bool = False
    parallel_fwdbwd_chunks: bool = False
    proto_compress_fwdbwd: bool = False
    sample_use_retrieve_futures: bool = False
    custom_loss_server_side: bool = False
    sample_join_sampling_session: bool = False

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pjwt_auth_enabled": False,
                    "use_pyqwest_transport": False,
                    "parallel_fwdbwd_chunks": False,
                    "proto_compress_fwdbwd": False,
                    "sample_use_retrieve_futures": False,
                    "custom_loss_server_side": False,
                    "sample_join_sampling_session": False,
                }
            ]
        }
    )


class DynamicConfig(BaseModel):
    refresh_interval_sec: int = 300
    sample_cancel_enabled: bool = False

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_interval_sec": 300, "sample_cancel_enabled": False}]}
    )


class SessionCreate(_Request):
    tags: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list, max_length=64)
    user_metadata: dict[str, Any] | None = None
    sdk_version: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(default=None, max_length=256)
    project_id: str | None = Field(default=None, max_length=256)
    type: Literal["create_session"] = "create_session"


class SessionCreated(BaseModel):
    session_id: str
    type: Literal["create_session"] = "create_session"

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"session_id": SESSION_EXAMPLE, "type": "create_session"}]}
    )


class SessionHeartbeat(_Request):
    session_id: str = Field(max_length=64)
    type: Literal["session_heartbeat"] = "session_heartbeat"


class HeartbeatAnswer(BaseModel):
    type: Literal["session_heartbeat"] = "session_heartbeat"

    model_config = ConfigDict(json_schema_extra={"examples": [{"type": "session_heartbeat"}]})


class FinishReason(_Request):
    type: Literal["success", "errored", "interrupted"]


class SessionFinish(_Request):
    reason: FinishReason
    detail: str | None = Field(default=None, max_length=4096)


class SessionFinished(BaseModel):
    session_id: str
    status: Literal["finished"] = "finished"

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"session_id": SESSION_EXAMPLE, "status": "finished"}]}
    )


class SupportedModel(BaseModel):
    model_name: str
    max_context_length: int | None = None
    trainable: bool = True
    sampleable: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"model_name": BASE_MODEL, "max_context_length": None, "trainable": True, "sampleable": True}
            ]
        }
    )


class ServerCapabilities(BaseModel):
    supported_models: list[SupportedModel]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "supported_models": [
                        {
                            "model_name": BASE_MODEL,
                            "max_context_length": None,
                            "trainable": True,
                            "sampleable": True,
                        }
                    ]
                }
            ]
        }
    )


class TelemetryBatch(_Request):
    events: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)


class TelemetryAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "accepted"}]})


class TinkerHealth(BaseModel):
    status: Literal["ok"] = "ok"

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
