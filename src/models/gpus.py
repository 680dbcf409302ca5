"""GPUs and who holds them."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from src.models.common import ApiModel
from src.models.examples import RUN_ID


class GpuHolder(ApiModel):
    type: Literal["run", "deployment", "tinker_worker"] = Field(
        description="a training run, a model server, or an interactive-training worker (shared by its users)"
    )
    id: str


class GpuRead(ApiModel):
    id: str
    name: str | None
    memory_total_mib: int | None
    memory_used_mib: int | None
    utilization_percent: int | None
    held: bool = Field(description="true while a run or deployment holds the GPU")
    holder: GpuHolder | None = Field(
        description="what holds it; null when free or when another owner holds it (user keys)"
    )


class GpuList(ApiModel):
    object: Literal["list"] = "list"
    source: Literal["nvml", "settings"]
    data: list[GpuRead]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "source": "nvml",
                    "data": [
                        {
                            "id": "0",
                            "name": "NVIDIA H100 80GB HBM3",
                            "memory_total_mib": 81559,
                            "memory_used_mib": 23140,
                            "utilization_percent": 87,
                            "held": True,
                            "holder": {"type": "run", "id": RUN_ID},
                        }
                    ],
                }
            ]
        }
    )
