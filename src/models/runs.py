"""Run vocabulary shared by runs and tuning jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from src.models.common import ApiModel, Page, RequestModel
from src.models.examples import ARTIFACT_ID, DATASET_ID, RUN_ID, TRAIN_CONFIG_ID


class RunStatus(StrEnum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# which statuses never change is enforced by src/features/runs/state.py, the only writer
TERMINAL_STATUSES = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})
ACTIVE_STATUSES = frozenset({RunStatus.pending, RunStatus.running})


class FailureCause(StrEnum):
    exit_code = "exit_code"
    oom = "oom"
    data_error = "data_error"
    launch_error = "launch_error"
    stalled = "stalled"
    lost = "lost"
    cancelled_by_user = "cancelled_by_user"


class Executor(StrEnum):
    local = "local"
    docker = "docker"
    slurm = "slurm"


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
RUN_ID_PATTERN = r"^run-[0-9a-f]{28}$"
RunId = Annotated[
    str, StringConstraints(pattern=RUN_ID_PATTERN), Field(examples=["run-01a201cb1ff871b4aaad733be0bf"])
]


class RunCreate(RequestModel):
    dataset: str | None = Field(
        default=None,
        max_length=255,
        description="an uploaded dataset id, or a relative path in the training dir",
    )
    train_config: str | None = Field(
        default=None,
        max_length=255,
        description="a training config id, or a relative path in the training dir",
    )
    gpus: int | None = Field(
        default=None, ge=0, le=64, description="GPUs to hold (on each node); default TUNING_RUN_GPUS"
    )
    nodes: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="nodes for a multi-node run (executor `slurm` only; the command starts once per node "
        "through srun); default 1",
    )
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=4096)]] = Field(default_factory=dict)
    executor: Executor | None = None
    note: str | None = Field(default=None, max_length=2000)

    model_config = {
        "json_schema_extra": {"examples": [{"gpus": 1, "env": {"WANDB_MODE": "offline"}, "note": "first"}]}
    }


class RunError(ApiModel):
    cause: FailureCause
    message: str
    exit_code: int | None = None
    log_tail: list[str] = Field(default_factory=list, description="the last 50 log lines")


class RunRead(ApiModel):
    id: str
    object: Literal["run"] = "run"
    project: str
    owner: str
    status: RunStatus
    executor: Executor
    progress: float = Field(
        description="0 to 1, from training steps only; never goes back, and 1 only once the run succeeded"
    )
    current_step: int | None
    total_steps: int | None
    epoch: float | None
    summary: dict[str, float] | None = Field(
        default=None,
        description="the trainer's end-of-training figures (`train_loss` average, `train_runtime`, "
        "`train_samples_per_second`, …); not part of the step series",
    )
    dataset: str | None
    train_config: str | None
    gpus: int = Field(description="GPUs asked for on each node")
    nodes: int = 1
    gpu_ids: list[str] = Field(
        description="the GPUs it holds: this host's ids, or `node:index` where Slurm placed it"
    )
    env: dict[str, str]
    note: str | None
    command: list[str]
    workspace: str | None = Field(
        description="the run's directory; relative to the training directory for user keys"
    )
    output_dir: str | None = Field(
        description="where the trainer writes; relative to the training directory for user keys"
    )
    queue_position: int | None
    pending_reason: str | None
    error: RunError | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": RUN_ID,
                    "object": "run",
                    "project": "support-bot",
                    "owner": "alice",
                    "status": "running",
                    "executor": "local",
                    "progress": 0.25,
                    "current_step": 15,
                    "total_steps": 60,
                    "epoch": 0.75,
                    "summary": None,
                    "dataset": DATASET_ID,
                    "train_config": TRAIN_CONFIG_ID,
                    "gpus": 1,
                    "nodes": 1,
                    "gpu_ids": ["0"],
                    "env": {"WANDB_MODE": "offline"},
                    "note": "first",
                    "command": [
                        "/opt/tuning/.venv/bin/python",
                        "/opt/tuning/recipes/sft_lora.py",
                        f"runs/{RUN_ID}/train.yaml",
                        "--dataset",
                        f"runs/{RUN_ID}/data",
                        "--output_dir",
                        f"runs/{RUN_ID}/output",
                    ],
                    "workspace": f"runs/{RUN_ID}",
                    "output_dir": f"runs/{RUN_ID}/output",
                    "queue_position": None,
                    "pending_reason": None,
                    "error": None,
                    "created_at": "2026-11-30T09:12:30Z",
                    "started_at": "2026-11-30T09:12:31Z",
                    "finished_at": None,
                }
            ]
        }
    )


RunPage = Page[RunRead]


class LogLineCreate(RequestModel):
    line: str = Field(min_length=1, max_length=65536)
    tags: list[Tag] = Field(default_factory=list, max_length=16)


class LogLine(ApiModel):
    seq: int
    line: str
    source: str
    tags: list[str]
    created_at: datetime


class LogPage(ApiModel):
    object: Literal["list"] = "list"
    data: list[LogLine]
    has_more: bool
    last_seq: int = Field(description="pass as `after` to read on")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "seq": 42,
                            "line": "{'loss': 2.3071, 'grad_norm': 1.84, "
                            "'learning_rate': 9.25e-05, 'epoch': 0.5}",
                            "source": "output",
                            "tags": [],
                            "created_at": "2026-11-30T09:13:52Z",
                        }
                    ],
                    "has_more": False,
                    "last_seq": 42,
                }
            ]
        }
    )


class MetricPoint(ApiModel):
    """One training step's metrics, merged across the sources that reported it."""

    step: int | None
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    lr: float | None
    grad_norm: float | None
    throughput: float | None
    extra: dict[str, Any]
    source: str = Field(description="`trainer_log` when trainer_log.jsonl reported the step, else `output`")
    created_at: datetime


class MetricSeries(ApiModel):
    object: Literal["list"] = "list"
    run_id: str
    data: list[MetricPoint]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "run_id": RUN_ID,
                    "data": [
                        {
                            "step": 10,
                            "epoch": 0.5,
                            "loss": 2.3071,
                            "eval_loss": None,
                            "lr": 9.25e-05,
                            "grad_norm": 1.84,
                            "throughput": None,
                            "extra": {},
                            "source": "trainer_log",
                            "created_at": "2026-11-30T09:13:52Z",
                        }
                    ],
                }
            ]
        }
    )


_ARTIFACT = {
    "id": ARTIFACT_ID,
    "path": "adapter_model.safetensors",
    "bytes": 1180016,
    "sha256": "9b0e3f6c2d8a41e7b5c09f3a6d2e8b14c7f0a95e3d61b2c8a4f7e09d5b3c6a21",
    "kind": "adapter",
    "tags": ["final"],
    "created_at": "2026-11-30T09:21:39Z",
}


class ArtifactRead(ApiModel):
    id: str
    path: str
    bytes: int
    sha256: str
    kind: str
    tags: list[str]
    created_at: datetime

    model_config = ConfigDict(json_schema_extra={"examples": [_ARTIFACT]})


class ArtifactList(ApiModel):
    object: Literal["list"] = "list"
    data: list[ArtifactRead]

    model_config = ConfigDict(json_schema_extra={"examples": [{"object": "list", "data": [_ARTIFACT]}]})


class ArtifactTags(RequestModel):
    tags: list[Tag] = Field(min_length=1, max_length=16)
