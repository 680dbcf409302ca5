"""API keys and the caller's identity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

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


class ApiKeyRead(ApiModel):
    id: int
    owner: str
    role: Role
    name: str | None
    hint: str
    source: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreate(RequestModel):
    owner: OwnerName
    role: Role = Role.user
    name: str | None = Field(default=None, max_length=128)

    model_config = {"json_schema_extra": {"examples": [{"owner": "alice", "role": "user", "name": "laptop"}]}}


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="the secret; shown only in this response")


ApiKeyPage = Page[ApiKeyRead]
