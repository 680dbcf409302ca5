"""Wire shapes of the Tinker-compatible API (`/api/v1/`), as the `tinker` SDK 0.38.0 sends and reads them.

docs/tinker-wire.md records where each field comes from in the SDK's source. Requests
accept the fields the SDK always sends (including its `type` tags) and ignore
others, so a newer SDK that adds a field still connects.
"""

from __future__ import annotations

from datetime import datetime
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


# -- models and their requests ---------------------------------------------------------------

MODEL_ID_PATTERN = r"^sess-[0-9a-f]{16}:train:[0-9]{1,7}$"
MODEL_EXAMPLE = f"{SESSION_EXAMPLE}:train:0"
REQUEST_EXAMPLE = "req-7c2e91b04a5d3f8e6b1c0d29"


class LoraConfigIn(_Request):
    """What the SDK sends; there is no alpha on the wire (the workers use 32, see trainer.py)."""

    rank: int = Field(ge=1, le=256)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    train_unembed: bool = True
    train_mlp: bool = True
    train_attn: bool = True


class ModelCreate(_Request):
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    model_seq_id: int = Field(ge=0, le=9_999_999)
    base_model: str = Field(min_length=1, max_length=255)
    lora_config: LoraConfigIn
    user_metadata: dict[str, Any] | None = None
    type: Literal["create_model"] = "create_model"


class FutureQueued(BaseModel):
    """A request accepted: poll `retrieve_future` with its id."""

    request_id: str
    model_id: str | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"request_id": REQUEST_EXAMPLE, "model_id": MODEL_EXAMPLE}]}
    )


class ModelInfoRequest(_Request):
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    type: Literal["get_info"] = "get_info"


class ModelData(BaseModel):
    arch: str | None = None
    model_name: str
    tokenizer_id: str


class ModelInfo(BaseModel):
    model_id: str
    model_data: ModelData
    is_lora: bool = True
    lora_rank: int
    model_name: str
    type: Literal["get_info"] = "get_info"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_id": MODEL_EXAMPLE,
                    "model_data": {
                        "arch": "llama",
                        "model_name": BASE_MODEL,
                        "tokenizer_id": "/srv/models/tiny-demo",
                    },
                    "is_lora": True,
                    "lora_rank": 8,
                    "model_name": BASE_MODEL,
                    "type": "get_info",
                }
            ]
        }
    )


class AdamParams(_Request):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    learning_rate: float = Field(default=1e-4, ge=0, le=10)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.95, ge=0, lt=1)
    eps: float = Field(default=1e-12, gt=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0, le=10)
    grad_clip_norm: float = Field(default=0.0, ge=0, le=1e6)


class OptimStep(_Request):
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    seq_id: int = Field(ge=1, le=2**31 - 1)
    adam_params: AdamParams = Field(default_factory=AdamParams)
    type: Literal["optim_step"] = "optim_step"


class FutureRetrieve(_Request):
    request_id: str = Field(max_length=64)
    allow_metadata_only: bool = False


# -- weights and sampling ----------------------------------------------------------------------

CHECKPOINT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # a file name: no '/', no leading dot
TINKER_PATH_PATTERN = r"^tinker://[^/]+/(weights|sampler_weights)/[^/]+$"
SAMPLER_EXAMPLE = "samp-2b7e0c4d9a1f3e58"


class SaveWeightsForSampler(_Request):
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    path: str | None = Field(
        default=None, pattern=CHECKPOINT_NAME_PATTERN, description="a name for the weights"
    )
    sampling_session_seq_id: int | None = Field(default=None, ge=0, le=2**31 - 1)
    kind: Literal["snapshot", "inflight"] = "snapshot"
    seq_id: int = Field(ge=1, le=2**31 - 1)
    ttl_seconds: int | None = Field(default=None, ge=1)
    type: Literal["save_weights_for_sampler"] = "save_weights_for_sampler"


class SaveWeights(_Request):
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    path: str | None = Field(
        default=None, pattern=CHECKPOINT_NAME_PATTERN, description="a name for the state"
    )
    seq_id: int = Field(ge=1, le=2**31 - 1)
    overwrite: bool = False
    ttl_seconds: int | None = Field(default=None, ge=1)
    type: Literal["save_weights"] = "save_weights"


class SamplingSessionCreate(_Request):
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    sampling_session_seq_id: int = Field(ge=0, le=2**31 - 1)
    base_model: str | None = Field(default=None, min_length=1, max_length=255)
    model_path: str | None = Field(
        default=None, max_length=512, description="tinker://<model>/sampler_weights/<name>"
    )
    type: Literal["create_sampling_session"] = "create_sampling_session"


class SamplingSessionCreated(BaseModel):
    sampling_session_id: str
    type: Literal["create_sampling_session"] = "create_sampling_session"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sampling_session_id": SAMPLER_EXAMPLE, "type": "create_sampling_session"}]
        }
    )


class SamplerRead(BaseModel):
    sampler_id: str
    base_model: str
    model_path: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sampler_id": SAMPLER_EXAMPLE,
                    "base_model": BASE_MODEL,
                    "model_path": f"tinker://{MODEL_EXAMPLE}/sampler_weights/step-20",
                }
            ]
        }
    )


class EncodedText(_Request):
    tokens: list[int] = Field(max_length=65_536)
    type: Literal["encoded_text"] = "encoded_text"


class PromptIn(_Request):
    chunks: list[EncodedText] = Field(min_length=1, max_length=64)


class SamplingParamsIn(_Request):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: str | list[str] | list[int] | None = None
    temperature: float = Field(default=1.0, ge=0, le=100)
    top_k: int = Field(default=-1, ge=-1, le=100_000)
    top_p: float = Field(default=1.0, gt=0, le=1)


class SampleIn(_Request):
    sampling_session_id: str = Field(max_length=64)
    seq_id: int = Field(default=0, ge=0)
    num_samples: int = Field(default=1, ge=1, le=16)
    prompt: PromptIn
    sampling_params: SamplingParamsIn = Field(default_factory=SamplingParamsIn)
    prompt_logprobs: bool = False
    type: Literal["sample"] = "sample"


class SampleQueued(BaseModel):
    request_id: str
    sample_sequence_ids: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"request_id": REQUEST_EXAMPLE, "sample_sequence_ids": [f"{REQUEST_EXAMPLE}-0"]}]
        }
    )


# -- what the RestClient reads -----------------------------------------------------------------


class CheckpointRead(BaseModel):
    checkpoint_id: str  # "<weights|sampler_weights>/<name>"
    checkpoint_type: Literal["training", "sampler"]
    time: datetime
    tinker_path: str
    size_bytes: int | None = None
    public: bool = False


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointRead]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "checkpoints": [
                        {
                            "checkpoint_id": "weights/state-5",
                            "checkpoint_type": "training",
                            "time": "2026-11-30T09:20:00Z",
                            "tinker_path": f"tinker://{MODEL_EXAMPLE}/weights/state-5",
                            "size_bytes": 412_336,
                            "public": False,
                        }
                    ]
                }
            ]
        }
    )


class TrainingRunRead(BaseModel):
    training_run_id: str
    base_model: str
    model_owner: str
    is_lora: bool = True
    corrupted: bool = False
    lora_rank: int | None = None
    last_request_time: datetime
    last_checkpoint: CheckpointRead | None = None
    last_sampler_checkpoint: CheckpointRead | None = None
    user_metadata: dict[str, str] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "training_run_id": MODEL_EXAMPLE,
                    "base_model": BASE_MODEL,
                    "model_owner": "alice",
                    "is_lora": True,
                    "corrupted": False,
                    "lora_rank": 8,
                    "last_request_time": "2026-11-30T09:21:00Z",
                    "last_checkpoint": None,
                    "last_sampler_checkpoint": None,
                    "user_metadata": {"renderer_name": "role_colon"},
                }
            ]
        }
    )


class OffsetCursor(BaseModel):
    offset: int
    limit: int
    total_count: int


class TrainingRunList(BaseModel):
    training_runs: list[TrainingRunRead]
    cursor: OffsetCursor

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "training_runs": [
                        {
                            "training_run_id": MODEL_EXAMPLE,
                            "base_model": BASE_MODEL,
                            "model_owner": "alice",
                            "is_lora": True,
                            "corrupted": False,
                            "lora_rank": 8,
                            "last_request_time": "2026-11-30T09:21:00Z",
                            "last_checkpoint": None,
                            "last_sampler_checkpoint": None,
                            "user_metadata": {"renderer_name": "role_colon"},
                        }
                    ],
                    "cursor": {"offset": 0, "limit": 20, "total_count": 1},
                }
            ]
        }
    )


class WeightsInfoRequest(_Request):
    tinker_path: str = Field(max_length=512, pattern=TINKER_PATH_PATTERN)


class WeightsInfo(BaseModel):
    base_model: str
    optimizer_config: dict[str, str] = Field(default_factory=lambda: {"type": "adamw"})
    is_lora: bool = True
    lora_rank: int | None = None
    train_unembed: bool | None = None
    train_mlp: bool | None = None
    train_attn: bool | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "base_model": BASE_MODEL,
                    "optimizer_config": {"type": "adamw"},
                    "is_lora": True,
                    "lora_rank": 8,
                    "train_unembed": True,
                    "train_mlp": True,
                    "train_attn": True,
                }
            ]
        }
    )


class LoadWeightsIn(_Request):
    """`load_state` (model_id + seq_id), or `create_training_client_from_state` (session_id, model_seq_id)."""

    path: str = Field(max_length=512, pattern=TINKER_PATH_PATTERN)
    optimizer: bool = False
    model_id: str | None = Field(default=None, pattern=MODEL_ID_PATTERN)
    seq_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)
    model_seq_id: int | None = Field(default=None, ge=0, le=9_999_999)
    base_model: str | None = Field(default=None, max_length=255)
    user_metadata: dict[str, Any] | None = None
    type: Literal["load_weights"] = "load_weights"
