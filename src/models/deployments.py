"""Deployments on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

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
    preferred_gpu: str | None = Field(default=None, max_length=32)
    gpu_count: int = Field(default=1, ge=0, le=16)
    health_path: str = Field(default="/health", max_length=255, pattern=r"^/[A-Za-z0-9/_.-]*$")
    served_model_name: str | None = Field(default=None, max_length=255, pattern=SERVED_NAME)


class DeploymentInfo(ApiModel):
    deployment_id: str
    model_path: str
    model_version: str | None
    served_model_name: str
    run_id: str | None
    tags: list[str]
    gpu_id: str | None
    gpu_ids: list[str]
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
