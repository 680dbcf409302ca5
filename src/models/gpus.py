"""GPUs and who holds them."""

from __future__ import annotations

from typing import Literal

from src.models.common import ApiModel


class GpuHolder(ApiModel):
    type: Literal["run", "deployment"]
    id: str


class GpuRead(ApiModel):
    id: str
    name: str | None
    memory_total_mib: int | None
    memory_used_mib: int | None
    utilization_percent: int | None
    holder: GpuHolder | None


class GpuList(ApiModel):
    object: Literal["list"] = "list"
    source: Literal["nvml", "settings"]
    data: list[GpuRead]
