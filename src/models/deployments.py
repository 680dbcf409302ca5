"""Deployments on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from src.models.common import ApiModel, RequestModel
from src.models.examples import DEPLOYMENT_ID
from src.models.tinker import TINKER_PATH_PATTERN


class DeploymentStatus(StrEnum):
    starting = "starting"
    running = "running"
    unhealthy = "unhealthy"
    stopping = "stopping"
    stopped = "stopped"
    failed = "failed"


ACTIVE_DEPLOYMENT_STATUSES = frozenset(
    {
        DeploymentStatus.starting,
        DeploymentStatus.running,
        DeploymentStatus.unhealthy,
        DeploymentStatus.stopping,
    }
)
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
GpuIndex = Annotated[int, Field(ge=0, le=1023)]  # 0 and 0.0 alike: JSON Schema calls both integers
GpuName = Annotated[str, StringConstraints(max_length=32)]
# a name that becomes a command-line argument of the model server: no spaces, '=' or control characters
SERVED_NAME = r"^[A-Za-z0-9][A-Za-z0-9._/:+-]*$"


class DeploymentCreate(RequestModel):
    model_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        examples=["models/qwen2.5"],
        description="a model directory under TUNING_MODEL_ROOTS (relative or absolute)",
    )
    run_id: str | None = Field(
        default=None, pattern=r"^run-[0-9a-f]{28}$", description="deploy this run's output"
    )
    checkpoint: str | None = Field(
        default=None,
        max_length=512,
        pattern=TINKER_PATH_PATTERN,
        examples=["tinker://sess-5e1f0c2a9b7d4e38:train:0/weights/final"],
        description="deploy weights an interactive run saved: its base model with the LoRA adapter",
    )
    model_version: str | None = Field(default=None, max_length=128, pattern=SERVED_NAME)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    extra_args: str | None = Field(default=None, max_length=2000, examples=["--max-model-len 2048"])
    preferred_gpu: GpuIndex | GpuName | None = Field(
        default=None,
        examples=[0],
        description="the GPU to use first: its index on this host (`0`, as the seed sends) or its id",
    )
    gpu_count: int = Field(default=1, ge=0, le=16)
    health_path: str = Field(default="/health", max_length=255, pattern=r"^/[A-Za-z0-9/_.-]*$")
    served_model_name: str | None = Field(default=None, max_length=255, pattern=SERVED_NAME)

    @field_validator("preferred_gpu", mode="before")
    @classmethod
    def _no_boolean_gpu(cls, value: object) -> object:
        if isinstance(value, bool):  # pydantic would read `true` as GPU 1
            raise ValueError('a GPU index (0) or id ("0"), not a boolean')
        return value


_DEPLOYMENT = {
    "id": DEPLOYMENT_ID,
    "deployment_id": DEPLOYMENT_ID,
    "model_path": "qwen2.5",
    "model_version": "v1",
    "served_model_name": "qwen-demo",
    "run_id": None,
    "checkpoint": None,
    "tags": ["demo"],
    "gpu_id": 1,
    "gpu_ids": ["1"],
    "port": 20000,
    "pid": 48213,
    "status": "running",
    "started_at": "2026-11-30T09:30:00Z",
    "stopped_at": None,
    "health_ok": True,
    "vllm_cmd": "vllm serve qwen2.5 --host 127.0.0.1 --port 20000 --served-model-name qwen-demo "
    "--disable-access-log-for-endpoints /health --max-model-len 4096",
    "log_file": f"deploy_logs/{DEPLOYMENT_ID}.log",
    "health_path": "/health",
    "base_url": "http://127.0.0.1:20000",
    "error": None,
    "exit_code": None,
    "executor": "local",
    "job_id": None,
    "node": None,
}


class DeploymentInfo(ApiModel):
    id: str = Field(description="the same as deployment_id, as every other resource carries it")
    deployment_id: str
    model_path: str
    model_version: str | None
    served_model_name: str
    run_id: str | None
    checkpoint: str | None = None
    tags: list[str]
    gpu_id: int | str | None = Field(
        description="the first GPU: its integer index on the host, or its configured id if not a number"
    )
    gpu_ids: list[str] = Field(description="every GPU the server holds, as the GPU ledger names them")
    port: int
    pid: int | None
    status: DeploymentStatus
    started_at: datetime | None
    stopped_at: datetime | None
    health_ok: bool
    vllm_cmd: str
    log_file: str
    health_path: str
    base_url: str
    error: str | None
    exit_code: int | None
    executor: str = Field(default="local", description="local: a process on this host; slurm: a Slurm job")
    job_id: str | None = Field(default=None, description="its Slurm job (executor slurm)")
    node: str | None = Field(default=None, description="the Slurm node it runs on, once placed")

    model_config = ConfigDict(json_schema_extra={"examples": [_DEPLOYMENT]})


class DeploymentList(ApiModel):
    object: str = "list"
    data: list[DeploymentInfo]

    model_config = ConfigDict(json_schema_extra={"examples": [{"object": "list", "data": [_DEPLOYMENT]}]})


class DeploymentRemoved(ApiModel):
    detail: str = "deployment removed"
    deployment_id: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": "deployment removed", "deployment_id": DEPLOYMENT_ID}]}
    )


class DeploymentLogs(ApiModel):
    deployment_id: str
    lines: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "deployment_id": DEPLOYMENT_ID,
                    "lines": [
                        "INFO:     Started server process [48213]",
                        "INFO:     Application startup complete.",
                    ],
                }
            ]
        }
    )
