"""Deployments on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from src.models.common import ApiModel, RequestModel


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


class DeploymentInfo(ApiModel):
    id: str = Field(description="the same as deployment_id, as every other resource carries it")
    deployment_id: str
    model_path: str
    model_version: str | None
    served_model_name: str
    run_id: str | None
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


class DeploymentList(ApiModel):
    object: str = "list"
    data: list[DeploymentInfo]


class DeploymentRemoved(ApiModel):
    detail: str = "deployment removed"
    deployment_id: str


class DeploymentLogs(ApiModel):
    deployment_id: str
    lines: list[str]
