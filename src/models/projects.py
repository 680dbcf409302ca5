"""Projects on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from src.models.auth import OwnerName
from src.models.common import ApiModel, Page, RequestModel
from src.utils.paths import is_safe_relative_path

PROJECT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ProjectName = Annotated[
    str,
    StringConstraints(pattern=PROJECT_NAME_PATTERN, max_length=63),
    Field(description="a slug: lowercase letters, digits, '-' and '_'", examples=["support-bot"]),
]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", max_length=64)]


def _check_relative_path(value: str | None) -> str | None:
    if value is not None and not is_safe_relative_path(value):
        raise ValueError("must be a relative path inside the training directory (no '..', no leading '/')")
    return value


def _dedupe(tags: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(tags)) if tags is not None else None


# No leading '/', no '..' segment, no backslash or NUL: stated as a pattern so the OpenAPI schema says it
# too; the validator enforces it (the look-aheads are beyond the Rust regex engine that validates patterns).
RELATIVE_PATH_PATTERN = r"^(?!/)(?!(?:.*/)?\.\.(?:/|$))[^\x00\\]+$"
RelativePath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    Field(json_schema_extra={"pattern": RELATIVE_PATH_PATTERN}),
    AfterValidator(_check_relative_path),
]
Tags = Annotated[list[Tag], Field(max_length=32), AfterValidator(_dedupe)]


class ProjectStatus(StrEnum):
    active = "active"
    archived = "archived"


class ProjectCreate(RequestModel):
    name: ProjectName
    description: str | None = Field(default=None, max_length=2000)
    owner: OwnerName | None = Field(
        default=None, description="defaults to the key's owner; only admins may set another"
    )
    tags: Tags = Field(default_factory=list)
    dataset_name: RelativePath | None = Field(default=None, examples=["data/support.jsonl"])
    training_yaml_name: RelativePath | None = Field(default=None, examples=["configs/sft.yaml"])

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "support-bot",
                    "description": "Fine-tune on support transcripts",
                    "tags": ["support", "qwen"],
                    "dataset_name": "data/support.jsonl",
                    "training_yaml_name": "configs/sft.yaml",
                }
            ]
        }
    }


class ProjectUpdate(RequestModel):
    """Only the fields sent change; `null` clears description, tags and file names."""

    description: str | None = Field(default=None, max_length=2000)
    tags: Tags | None = None
    dataset_name: RelativePath | None = None
    training_yaml_name: RelativePath | None = None
    status: ProjectStatus | None = None


class RunCounts(ApiModel):
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class ProjectDetail(ApiModel):
    name: str
    description: str | None
    owner: str
    tags: list[str]
    dataset_name: str | None
    training_yaml_name: str | None
    status: ProjectStatus
    created_at: datetime
    updated_at: datetime
    run_counts: RunCounts

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "support-bot",
                    "description": "Fine-tune on support transcripts",
                    "owner": "alice",
                    "tags": ["support", "qwen"],
                    "dataset_name": "data/support.jsonl",
                    "training_yaml_name": "configs/sft.yaml",
                    "status": "active",
                    "created_at": "2026-11-30T09:08:00Z",
                    "updated_at": "2026-11-30T09:08:00Z",
                    "run_counts": {
                        "pending": 0,
                        "running": 1,
                        "succeeded": 2,
                        "failed": 0,
                        "cancelled": 0,
                        "total": 3,
                    },
                }
            ]
        }
    )


ProjectPage = Page[ProjectDetail]
