"""The plain HTTP API of interactive training (`/v1/runs`, `/v1/sample`, `/v1/jobs`, `/v1/checkpoints`).

The shapes EZTinker's seed sends (`POST /v1/runs {"base_model"}` -> `run_id`,
`POST /v1/sample {"prompt", "max_new_tokens"}` -> `job_id`, `GET /v1/jobs/{job_id}`),
over the same sessions, models and workers as the tinker SDK's `/api/v1/`. A run is
one LoRA model; its id is the model id the tinker API uses (`sess-…:train:0`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from src.models.common import ApiModel, RequestModel
from src.models.examples import BASE_MODEL
from src.models.tinker import CHECKPOINT_NAME_PATTERN, MODEL_ID_PATTERN

RUN_EXAMPLE = "sess-5e1f0c2a9b7d4e38:train:0"
JOB_EXAMPLE = "req-7c2e91b04a5d3f8e6b1c0d29"
CHECKPOINT_ID_PATTERN = r"^ckpt-[0-9a-f]{16}$"
MAX_INPUT_IDS = 8192  # one forward_backward of the plain API: one sequence
MAX_PROMPT_CHARS = 32_768


class InteractiveRunCreate(RequestModel):
    base_model: str = Field(min_length=1, max_length=255, examples=[BASE_MODEL])
    lora_rank: int = Field(default=8, ge=1, le=256)
    lora_alpha: float | None = Field(
        default=None, gt=0, le=4096, description="LoRA alpha; unset: 32, as the tinker API's adapters"
    )
    label: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="a name of yours for the run, shown beside it; the run's id is always the server's",
    )
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


_RUN = {
    "run_id": RUN_EXAMPLE,
    "label": "custom123",
    "base_model": BASE_MODEL,
    "lora_rank": 8,
    "lora_alpha": 32.0,
    "status": "ready",
    "client": "eztinker",
    "steps": 4,
    "created_at": "2026-11-30T15:00:00Z",
    "expires_after_idle_s": 3600,
}


class InteractiveRun(ApiModel):
    run_id: str
    label: str | None
    base_model: str
    lora_rank: int
    lora_alpha: float
    status: Literal["creating", "ready", "failed", "released"]
    client: Literal["sdk", "eztinker"] = Field(description="who drives it: the tinker SDK or this API")
    steps: int = Field(description="requests run so far (forward_backward, optim_step, saves, samples)")
    created_at: datetime
    expires_after_idle_s: int | None = Field(description="an untouched run ends after this long")

    model_config = ConfigDict(json_schema_extra={"examples": [_RUN]})


class InteractiveRunCreated(InteractiveRun):
    job_id: str = Field(description="the job that loads the adapter; the run is ready when it completes")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_RUN, "status": "creating", "steps": 0, "job_id": JOB_EXAMPLE}]}
    )


class InteractiveRunList(ApiModel):
    data: list[InteractiveRun]
    total: int

    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_RUN], "total": 1}]})


class RunForwardBackward(RequestModel):
    """One sequence: token ids, or text (a prompt and the completion to learn, tokenized by the server)."""

    input_ids: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_INPUT_IDS,
        description="one token sequence; the loss is next-token cross-entropy over all of it",
    )
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="with completion: the context, not learned"
    )
    completion: str | None = Field(
        default=None, min_length=1, max_length=MAX_PROMPT_CHARS, description="text to learn after prompt"
    )
    weights: list[float] | None = Field(
        default=None,
        max_length=MAX_INPUT_IDS,
        description="per token of input_ids, how much its prediction counts (0 for prompt tokens); "
        "unset: every token after the first counts 1",
    )
    forward_only: bool = Field(default=False, description="the loss without a gradient")

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_sequence(self) -> RunForwardBackward:
        if (self.input_ids is None) == (self.completion is None):
            raise ValueError("send input_ids, or completion (with an optional prompt): one of the two")
        if self.input_ids is None and self.weights is not None:
            raise ValueError("weights go with input_ids; with text, the prompt's tokens weigh 0")
        return self


class RunOptimStep(RequestModel):
    learning_rate: float = Field(default=1e-4, ge=0, le=10)

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RunCheckpointCreate(RequestModel):
    name: str = Field(pattern=CHECKPOINT_NAME_PATTERN, examples=["checkpoint_final"])


class TextSampleRequest(RequestModel):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, examples=["Hello!"])
    max_new_tokens: int = Field(default=64, ge=1, le=2048)
    temperature: float = Field(default=0.7, ge=0, le=2)
    num_samples: int = Field(default=1, ge=1, le=16)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    run_id: str | None = Field(
        default=None, pattern=MODEL_ID_PATTERN, description="sample the run's adapter as it is now"
    )
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="without run_id: the base model to sample; unset: the server's demo model",
    )

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_model(self) -> TextSampleRequest:
        if self.run_id is not None and self.base_model is not None:
            raise ValueError("send run_id (the run's adapter) or base_model, not both")
        return self


class InteractiveJobQueued(ApiModel):
    job_id: str
    run_id: str | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"job_id": JOB_EXAMPLE, "run_id": RUN_EXAMPLE}]}
    )


class InteractiveJobError(ApiModel):
    message: str
    category: Literal["user", "server", "unknown"]


class InteractiveJob(ApiModel):
    job_id: str
    run_id: str | None
    kind: str = Field(description="create_model, forward_backward, optim_step, save_weights, generate, …")
    status: Literal["pending", "running", "completed", "failed"]
    result: dict[str, Any] | None = Field(
        description="forward_backward: loss; generate: text and texts; save_weights: path"
    )
    error: InteractiveJobError | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": JOB_EXAMPLE,
                    "run_id": None,
                    "kind": "generate",
                    "status": "completed",
                    "result": {"text": "Hello there", "texts": ["Hello there"], "type": "sample"},
                    "error": None,
                }
            ]
        }
    )


_CHECKPOINT = {
    "checkpoint_id": "ckpt-0f3c9a1e2b7d4c68",
    "run_id": RUN_EXAMPLE,
    "name": "checkpoint_final",
    "kind": "weights",
    "tinker_path": f"tinker://{RUN_EXAMPLE}/weights/checkpoint_final",
    "size_bytes": 218377,
    "created_at": "2026-11-30T15:20:00Z",
}


class SavedCheckpoint(ApiModel):
    checkpoint_id: str
    run_id: str
    name: str
    kind: Literal["weights", "sampler_weights"] = Field(
        description="weights: with the optimizer state (save_state, save_checkpoint); sampler_weights: none"
    )
    tinker_path: str
    size_bytes: int
    created_at: datetime

    model_config = ConfigDict(json_schema_extra={"examples": [_CHECKPOINT]})


class SavedCheckpointList(ApiModel):
    data: list[SavedCheckpoint]
    total: int

    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_CHECKPOINT], "total": 1}]})


class InteractiveRunEnded(ApiModel):
    run_id: str
    status: Literal["ending"] = Field(
        default="ending", description="its adapter is let go within a second or two"
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"run_id": RUN_EXAMPLE, "status": "ending"}]})
