"""Base models and envelopes shared by every feature."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

ItemT = TypeVar("ItemT")


class ApiModel(BaseModel):
    """Base for responses: built from ORM rows as well as dicts."""

    model_config = ConfigDict(from_attributes=True)


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are a 422 naming the field."""

    model_config = ConfigDict(extra="forbid")


class Page(ApiModel, Generic[ItemT]):
    """A page of a cursor-paginated list (`after` = id of the last item seen)."""

    object: Literal["list"] = "list"
    data: list[ItemT]
    has_more: bool = Field(description="true when a next page exists; pass the last item's id as `after`")


class Message(ApiModel):
    detail: str
