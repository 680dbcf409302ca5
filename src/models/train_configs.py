"""Training YAML configs on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from src.models.common import ApiModel, Page, RequestModel


class TrainConfigText(RequestModel):
    """A config sent as JSON instead of a multipart file."""

    name: str = Field(min_length=1, max_length=255, examples=["qwen-sft.yaml"])
    content: str = Field(description="the YAML text", examples=["stage: sft\nfinetuning_type: full\n"])


class TrainConfigRead(ApiModel):
    id: str
    name: str
    filename: str
    owner: str
    size: int
    sha256: str
    uploaded_at: datetime
    slot: bool = Field(description="true for the owner's single `/v1/train-config` slot")
    summary: dict[str, Any] = Field(description="the LLaMA-Factory keys found in the file")
    warnings: list[str] = Field(description="values that cannot work")


TrainConfigPage = Page[TrainConfigRead]


class SlotMetadata(ApiModel):
    """What `GET /v1/train-config` answers; `PUT` wraps it in `{"train_config": …}`."""

    filename: str
    uploaded_at: datetime
    size: int
    id: str
    summary: dict[str, Any]
    warnings: list[str]


class SlotAnswer(ApiModel):
    """What `PUT /v1/train-config` answers."""

    train_config: SlotMetadata


class SlotDeleted(ApiModel):
    status: Literal["train_config_deleted"] = "train_config_deleted"
