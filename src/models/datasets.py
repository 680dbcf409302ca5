"""Datasets, their files and uploads on the wire."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from src.models.common import ApiModel, ObjectId, Page, RequestModel
from src.models.examples import DATASET_ID, TRAIN_CONFIG_ID, UPLOAD_ID

DatasetName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f/\\]+$")]
MAX_METADATA_BYTES = 16 * 1024


def _small_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_small_metadata)]


class DatasetStatus(StrEnum):
    pending = "pending"
    ready = "ready"
    invalid = "invalid"


class FileStatus(StrEnum):
    """`valid`: every record can train. `partial`: some records cannot, so the file is left out of
    training until they are fixed. `invalid`: no record can train, or the file cannot be read."""

    validating = "validating"
    valid = "valid"
    partial = "partial"
    invalid = "invalid"


class DatasetCreate(RequestModel):
    name: DatasetName
    type: str | None = Field(default=None, max_length=64, examples=["sft"])
    description: str | None = Field(default=None, max_length=2000)
    task_type: str | None = Field(default=None, max_length=64, examples=["chat"])
    metadata: Metadata = Field(default_factory=dict)
    strict: bool = Field(default=False, description="reject records with keys their format does not know")
    train_config: str | None = Field(
        default=None, max_length=36, description="id of a training config to link"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"name": "support-chats", "type": "sft", "task_type": "chat", "metadata": {"lang": "zh"}}
            ]
        }
    }


class DatasetUpdate(RequestModel):
    """Only the fields sent change; `train_config: null` unlinks the config."""

    name: DatasetName | None = None
    description: str | None = Field(default=None, max_length=2000)
    metadata: Metadata | None = None
    train_config: ObjectId | None = None


class DatasetCreated(ApiModel):
    id: str
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": DATASET_ID, "created_at": "2026-11-30T09:10:00Z"}]}
    )


class InvalidRecord(ApiModel):
    line: int
    reason: str


class ValidationStats(ApiModel):
    total_loaded: int
    valid_conversations: int
    invalid_conversations: int
    total_turns: int
    approx_tokens: int
    dialect_counts: dict[str, int]
    format: str | None
    errors: list[InvalidRecord] = Field(description="the first 20 invalid records")
    fatal: str | None = Field(description="why the whole file could not be read, if it could not")


class DatasetFileRead(ApiModel):
    upload_id: str
    name: str
    stored_name: str
    bytes: int
    sha256: str
    uploaded_at: datetime
    status: FileStatus
    format: str | None
    records: int | None
    validation: ValidationStats | None


class UploadInFlight(ApiModel):
    upload_id: str
    filename: str | None
    bytes_received: int


class UploadProgress(ApiModel):
    files_count: int
    bytes_received: int = Field(description="bytes received so far by uploads still in flight")
    uploads: list[UploadInFlight]


class TrainConfigLink(ApiModel):
    id: str
    name: str
    filename: str


_SHA256 = "5c2f8e1a9d04b7c36e1f0a8d2b9c47e5f13a6d0c8b2e94f7a1d5c3e8b06f2a49"
_STORED_NAME = f"{UPLOAD_ID}_train.jsonl"


class DatasetRecord(ApiModel):
    id: str
    name: str
    owner: str
    type: str | None
    description: str | None
    task_type: str | None
    metadata: dict[str, Any]
    strict: bool
    status: DatasetStatus
    status_reasons: list[str] = Field(
        description="one line for each file left out of training (status `partial` or `invalid`), and why"
    )
    files: list[DatasetFileRead]
    train_config: TrainConfigLink | None
    upload_progress: UploadProgress
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": DATASET_ID,
                    "name": "support-chats",
                    "owner": "alice",
                    "type": "sft",
                    "description": None,
                    "task_type": "chat",
                    "metadata": {"lang": "zh"},
                    "strict": False,
                    "status": "ready",
                    "status_reasons": [],
                    "files": [
                        {
                            "upload_id": UPLOAD_ID,
                            "name": "train.jsonl",
                            "stored_name": _STORED_NAME,
                            "bytes": 48213,
                            "sha256": _SHA256,
                            "uploaded_at": "2026-11-30T09:10:04Z",
                            "status": "valid",
                            "format": "openai_chat",
                            "records": 80,
                            "validation": {
                                "total_loaded": 80,
                                "valid_conversations": 80,
                                "invalid_conversations": 0,
                                "total_turns": 212,
                                "approx_tokens": 15890,
                                "dialect_counts": {"openai_chat": 80},
                                "format": "openai_chat",
                                "errors": [],
                                "fatal": None,
                            },
                        }
                    ],
                    "train_config": {"id": TRAIN_CONFIG_ID, "name": "sft.yaml", "filename": "sft.yaml"},
                    "upload_progress": {"files_count": 1, "bytes_received": 0, "uploads": []},
                    "created_at": "2026-11-30T09:10:00Z",
                    "updated_at": "2026-11-30T09:12:10Z",
                }
            ]
        }
    )


DatasetPage = Page[DatasetRecord]


class UploadResult(ApiModel):
    upload_id: str
    dataset_id: str
    bytes: int
    filename: str
    stored_name: str
    sha256: str
    status: FileStatus
    records: int | None = Field(description="records that can train; null while validating")
    invalid_records: int | None = Field(description="records that cannot train; null while validating")
    status_reason: str | None = Field(
        description="why the file is left out of training, when its status is `partial` or `invalid`"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "upload_id": UPLOAD_ID,
                    "dataset_id": DATASET_ID,
                    "bytes": 48213,
                    "filename": "train.jsonl",
                    "stored_name": _STORED_NAME,
                    "sha256": _SHA256,
                    "status": "valid",
                    "records": 80,
                    "invalid_records": 0,
                    "status_reason": None,
                }
            ]
        }
    )


class UploadAborted(ApiModel):
    upload_id: str
    status: Literal["aborted"] = "aborted"

    model_config = ConfigDict(json_schema_extra={"examples": [{"upload_id": UPLOAD_ID, "status": "aborted"}]})


class PreviewRecord(ApiModel):
    upload_id: str
    line: int
    format: str
    record: Any


class DatasetPreview(ApiModel):
    object: Literal["list"] = "list"
    data: list[PreviewRecord]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "upload_id": UPLOAD_ID,
                            "line": 1,
                            "format": "openai_chat",
                            "record": {
                                "messages": [
                                    {"role": "user", "content": "我的订单还没发货"},
                                    {
                                        "role": "assistant",
                                        "content": "请提供您的订单号",
                                    },
                                ]
                            },
                        }
                    ],
                }
            ]
        }
    )
