"""Training YAML configs on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from src.models.common import ApiModel, Page, RequestModel
from src.models.examples import BASE_MODEL, SLOT_CONFIG_ID, TRAIN_CONFIG_ID


class TrainConfigText(RequestModel):
    """A config sent as JSON instead of a multipart file."""

    name: str = Field(min_length=1, max_length=255, examples=["qwen-sft.yaml"])
    content: str = Field(description="the YAML text", examples=["stage: sft\nfinetuning_type: full\n"])


_SUMMARY = {
    "model_name_or_path": BASE_MODEL,
    "stage": "sft",
    "finetuning_type": "lora",
    "num_train_epochs": 3,
    "learning_rate": 0.0001,
}
_SLOT = {
    "filename": "sft.yaml",
    "uploaded_at": "2026-11-30T09:12:00Z",
    "size": 112,
    "id": SLOT_CONFIG_ID,
    "summary": _SUMMARY,
    "warnings": [],
}


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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": TRAIN_CONFIG_ID,
                    "name": "sft.yaml",
                    "filename": "sft.yaml",
                    "owner": "alice",
                    "size": 112,
                    "sha256": "d41f7a2c9e08b35f6a1c4d7e2b9f08a3c5e61d4b7a2f9c08e3d5b1a6f4c27e90",
                    "uploaded_at": "2026-11-30T09:12:00Z",
                    "slot": False,
                    "summary": _SUMMARY,
                    "warnings": [],
                }
            ]
        }
    )


TrainConfigPage = Page[TrainConfigRead]


class SlotMetadata(ApiModel):
    """What `GET /v1/train-config` answers; `PUT` wraps it in `{"train_config": …}`."""

    filename: str
    uploaded_at: datetime
    size: int
    id: str
    summary: dict[str, Any]
    warnings: list[str]

    model_config = ConfigDict(json_schema_extra={"examples": [_SLOT]})


class SlotAnswer(ApiModel):
    """What `PUT /v1/train-config` answers."""

    train_config: SlotMetadata

    model_config = ConfigDict(json_schema_extra={"examples": [{"train_config": _SLOT}]})


class SlotDeleted(ApiModel):
    status: Literal["train_config_deleted"] = "train_config_deleted"

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "train_config_deleted"}]})
