"""OpenAI-compatible shapes for files and fine-tuning jobs (what the `openai` client parses)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from src.models.common import ApiModel
from src.models.examples import BASE_MODEL, DATASET_ID, FINE_TUNED_MODEL, JOB_ID

_FILE = {
    "id": DATASET_ID,
    "object": "file",
    "bytes": 48213,
    "created_at": 1796029800,
    "filename": "train.jsonl",
    "purpose": "fine-tune",
    "status": "processed",
    "status_details": None,
}
_JOB_HEX = JOB_ID.removeprefix("job-")
_HYPERPARAMETERS = {"n_epochs": 3.0, "batch_size": 4, "learning_rate_multiplier": 1.0}
_JOB = {
    "id": JOB_ID,
    "object": "fine_tuning.job",
    "created_at": 1796030100,
    "error": None,
    "fine_tuned_model": FINE_TUNED_MODEL,
    "finished_at": 1796030500,
    "hyperparameters": _HYPERPARAMETERS,
    "model": BASE_MODEL,
    "organization_id": "org-local",
    "result_files": [f"file-{_JOB_HEX}-model", f"file-{_JOB_HEX}-metrics"],
    "seed": 42,
    "status": "succeeded",
    "trained_tokens": None,
    "training_file": DATASET_ID,
    "validation_file": None,
    "estimated_finish": None,
    "integrations": None,
    "metadata": None,
    "method": {"type": "supervised", "supervised": {"hyperparameters": _HYPERPARAMETERS}},
    "user_provided_suffix": "support",
}
_CHECKPOINT_ID = f"ftckpt-{_JOB_HEX}-60"


class OpenAIFile(ApiModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [_FILE]})


class OpenAIFileList(ApiModel):
    object: Literal["list"] = "list"
    data: list[OpenAIFile]
    has_more: bool = False

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"object": "list", "data": [_FILE], "has_more": False}]}
    )


class OpenAIHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Literal["auto"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    learning_rate_multiplier: float | Literal["auto"] = "auto"


class OpenAIMethod(BaseModel):
    type: Literal["supervised"] = "supervised"
    supervised: dict[str, Any] | None = None


class OpenAIJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=255)
    training_file: str = Field(min_length=1, max_length=255)
    validation_file: str | None = Field(default=None, max_length=255)
    hyperparameters: OpenAIHyperparameters | None = None
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = None
    method: OpenAIMethod | None = None
    integrations: list[Any] | None = None


class OpenAIError(ApiModel):
    code: str
    message: str
    param: str | None = None


class OpenAIJob(ApiModel):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: OpenAIError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str = "org-local"
    result_files: list[str]
    seed: int
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None
    estimated_finish: int | None = None
    integrations: list[Any] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any]
    user_provided_suffix: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB]})


class OpenAIJobList(ApiModel):
    object: Literal["list"] = "list"
    data: list[OpenAIJob]
    has_more: bool

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"object": "list", "data": [_JOB], "has_more": False}]}
    )


class OpenAIEvent(ApiModel):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"] = "info"
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any] | None = None


class OpenAIEventList(ApiModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEvent]
    has_more: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "id": "ftevent-m60",
                            "object": "fine_tuning.job.event",
                            "created_at": 1796030497,
                            "level": "info",
                            "message": "Step 60/60: training loss=0.8123",
                            "type": "metrics",
                            "data": {
                                "step": 60,
                                "total_steps": 60,
                                "train_loss": 0.8123,
                                "valid_loss": None,
                                "epoch": 3.0,
                                "learning_rate": 1.6667e-06,
                            },
                        }
                    ],
                    "has_more": True,
                }
            ]
        }
    )


class OpenAICheckpoint(ApiModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, Any]
    step_number: int


class OpenAICheckpointList(ApiModel):
    object: Literal["list"] = "list"
    data: list[OpenAICheckpoint]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "id": _CHECKPOINT_ID,
                            "object": "fine_tuning.job.checkpoint",
                            "created_at": 1796030499,
                            "fine_tuned_model_checkpoint": f"{FINE_TUNED_MODEL}:ckpt-step-60",
                            "fine_tuning_job_id": JOB_ID,
                            "metrics": {"step": 60, "train_loss": 0.8123, "valid_loss": None},
                            "step_number": 60,
                        }
                    ],
                    "has_more": False,
                    "first_id": _CHECKPOINT_ID,
                    "last_id": _CHECKPOINT_ID,
                }
            ]
        }
    )
