"""Base models and envelopes shared by every feature."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ItemT = TypeVar("ItemT")

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ObjectId = Annotated[
    str,
    StringConstraints(min_length=36, max_length=36, pattern=UUID_PATTERN),
    Field(examples=["01a201cb-1ff8-71b4-aaad-733be0bfbb2f"]),
]


class ApiModel(BaseModel):
    """Base for responses: built from ORM rows as well as dicts."""

    model_config = ConfigDict(from_attributes=True)


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are a 422 naming the field."""

    # the default Rust engine: its `$` is the end of the text, as in the OpenAPI schema (ECMA);
    # Python's `$` also matches before a trailing newline, so "name\n" would pass a name pattern
    model_config = ConfigDict(extra="forbid")


class Page(ApiModel, Generic[ItemT]):
    """A page of a cursor-paginated list (`after` = id of the last item seen)."""

    object: Literal["list"] = "list"
    data: list[ItemT]
    has_more: bool = Field(description="true when a next page exists; pass the last item's id as `after`")


class Message(ApiModel):
    detail: str
