"""API keys and the caller's identity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from src.models.common import ApiModel, Page, RequestModel

OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
OwnerName = Annotated[str, StringConstraints(pattern=OWNER_PATTERN, max_length=64)]


class Role(StrEnum):
    admin = "admin"
    user = "user"


class WhoAmI(ApiModel):
    owner: str
    role: Role
    auth: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"owner": "alice", "role": "user", "auth": "api_key"}]}
    )


_API_KEY = {
    "id": 4,
    "owner": "alice",
    "role": "user",
    "name": "laptop",
    "hint": "...Qm7c",
    "source": "api",
    "created_at": "2026-11-30T09:00:00Z",
    "revoked_at": None,
}


class ApiKeyRead(ApiModel):
    id: int
    owner: str
    role: Role
    name: str | None
    hint: str
    source: str
    created_at: datetime
    revoked_at: datetime | None

    model_config = ConfigDict(json_schema_extra={"examples": [_API_KEY]})


class ApiKeyCreate(RequestModel):
    owner: OwnerName
    role: Role = Role.user
    name: str | None = Field(default=None, max_length=128, pattern=r"^[^\x00]*$")

    model_config = {"json_schema_extra": {"examples": [{"owner": "alice", "role": "user", "name": "laptop"}]}}


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the secret; shown only in this response")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_API_KEY, "key": "tsk-Xr4vN8bLq2ZtW9hKe5YpD1sJf6uGc3aTo0iVn7xQm7c"}]
        }
    )


ApiKeyPage = Page[ApiKeyRead]
