"""Datasets, their files and uploads on the wire."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from src.models.common import ApiModel, ObjectId, Page, RequestModel

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


class UploadAborted(ApiModel):
    upload_id: str
    status: Literal["aborted"] = "aborted"


class PreviewRecord(ApiModel):
    upload_id: str
    line: int
    format: str
    record: Any


class DatasetPreview(ApiModel):
    object: Literal["list"] = "list"
    data: list[PreviewRecord]
