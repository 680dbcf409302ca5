"""Tuning jobs, OpenAI-style files and models on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from src.models.common import ApiModel, RequestModel
from src.models.examples import BASE_MODEL, DATASET_ID, FINE_TUNED_MODEL, JOB_ID, JOB_RUN_ID
from src.models.runs import RunStatus


class Hyperparameters(BaseModel):
    """What a tuning job may set; anything else is refused by name."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(default=3, gt=0, le=1000)
    learning_rate: float = Field(default=1e-4, gt=0, le=1)
    batch_size: int = Field(default=4, ge=1, le=4096)
    rank: int = Field(default=8, ge=1, le=1024)
    alpha: int | None = Field(default=None, ge=1, le=4096)
    use_quantization: bool = False
    finetuning_type: Literal["lora", "full"] = "lora"
    cutoff_len: int = Field(default=1024, ge=8, le=131072)
    logging_steps: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)


# Read as a plain mapping so an unknown or bad key is a 400 that names it
# (service.parse_hyperparameters); documented with every key, type and default.
HyperparametersBody = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            **Hyperparameters.model_json_schema(),
            "description": "every key is optional; unknown keys are refused by name",
        }
    ),
]


class TuningCreate(RequestModel):
    model: str = Field(min_length=1, max_length=255, examples=["Qwen/Qwen2-0.5B-Instruct"])
    training_file: str = Field(
        min_length=1, max_length=255, description="dataset or file id, or a relative path"
    )
    validation_file: str | None = Field(default=None, max_length=255)
    hyperparameters: HyperparametersBody = Field(
        default_factory=dict, examples=[{"epochs": 3, "learning_rate": 1e-4}]
    )
    suffix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    gpus: int | None = Field(default=None, ge=0, le=64)


class TuningMetrics(ApiModel):
    train_loss: float | None = None
    eval_loss: float | None = None
    current_epoch: float | None = None
    total_epochs: float | None = None
    current_step: int | None = None
    total_steps: int | None = None
    progress: float = 0.0


class TuningError(ApiModel):
    code: str
    message: str


_JOB = {
    "id": JOB_ID,
    "object": "tuning.job",
    "model": BASE_MODEL,
    "status": "succeeded",
    "created_at": "2026-11-30T09:15:00Z",
    "started_at": "2026-11-30T09:15:02Z",
    "finished_at": "2026-11-30T09:21:40Z",
    "training_file": DATASET_ID,
    "validation_file": None,
    "hyperparameters": {
        "epochs": 3.0,
        "learning_rate": 0.0001,
        "batch_size": 4,
        "rank": 8,
        "alpha": None,
        "use_quantization": False,
        "finetuning_type": "lora",
        "cutoff_len": 1024,
        "logging_steps": 1,
        "gradient_accumulation_steps": 1,
        "lora_dropout": 0.0,
    },
    "metrics": {
        "train_loss": 0.8123,
        "eval_loss": None,
        "current_epoch": 3.0,
        "total_epochs": 3.0,
        "current_step": 60,
        "total_steps": 60,
        "progress": 1.0,
    },
    "summary": {"train_loss": 1.2047, "train_runtime": 391.6, "train_samples_per_second": 0.613},
    "result_files": ["adapter_config.json", "adapter_model.safetensors"],
    "fine_tuned_model": FINE_TUNED_MODEL,
    "error": None,
    "duration": 398.0,
    "queue_position": None,
    "run_id": JOB_RUN_ID,
}


class TuningJobRead(ApiModel):
    id: str
    object: Literal["tuning.job"] = "tuning.job"
    model: str
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    training_file: str
    validation_file: str | None
    hyperparameters: Hyperparameters
    metrics: TuningMetrics | None
    summary: dict[str, float] | None = Field(
        default=None,
        description="the trainer's end-of-training figures (`train_loss` average, `train_runtime`, "
        "`train_samples_per_second`, …) once training ends",
    )
    result_files: list[str] = Field(
        description="the run's final files (paths in its output directory); download them with "
        "`GET /runs/{run_id}/artifacts/{artifact_id}/content`"
    )
    fine_tuned_model: str | None = Field(description="the model's name once the job succeeded, else null")
    error: TuningError | None
    duration: float | None
    queue_position: int | None
    run_id: str

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB]})


class TuningJobList(ApiModel):
    object: Literal["list"] = "list"
    data: list[TuningJobRead]
    has_more: bool

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"object": "list", "data": [_JOB], "has_more": False}]}
    )


class DeletedObject(ApiModel):
    id: str
    object: str
    deleted: bool = True

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": JOB_ID, "object": "tuning.job", "deleted": True}]}
    )


_MODEL = {
    "id": FINE_TUNED_MODEL,
    "object": "model",
    "created": 1796030500,
    "owned_by": "alice",
    "kind": "fine-tuned",
    "path": f"/srv/tuning/training/runs/{JOB_RUN_ID}/output",
}


class ModelRead(ApiModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: Literal["base", "fine-tuned"]
    path: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [_MODEL]})


class ModelList(ApiModel):
    object: Literal["list"] = "list"
    data: list[ModelRead]

    model_config = ConfigDict(json_schema_extra={"examples": [{"object": "list", "data": [_MODEL]}]})
