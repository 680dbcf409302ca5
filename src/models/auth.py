"""API keys and the caller's identity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from src.models.common import ApiModel

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
