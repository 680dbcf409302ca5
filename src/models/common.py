"""Base models and envelopes shared by every feature."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

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


def _page_example(schema: JsonDict, cls: type[Any]) -> None:
    """`Page[Item]` shows a page of one item, the item model's own example, so the two cannot disagree."""
    (item,) = cls.__pydantic_generic_metadata__["args"] or (None,)
    extra = getattr(item, "model_config", {}).get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples:
        schema["examples"] = [{"object": "list", "data": examples[:1], "has_more": False}]


class Page(ApiModel, Generic[ItemT]):
    """A page of a cursor-paginated list (`after` = id of the last item seen)."""

    object: Literal["list"] = "list"
    data: list[ItemT]
    has_more: bool = Field(description="true when a next page exists; pass the last item's id as `after`")

    model_config = ConfigDict(json_schema_extra=_page_example)


class Message(ApiModel):
    detail: str

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "project 'support-bot' deleted"}]})


class _DeclaredOrder(GenerateJsonSchema):
    """Leaves keys in the order they are written; pydantic would sort them, examples included."""

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value


def declared_examples(model: type[BaseModel]) -> list[Any]:
    """The model's `examples` as written: keys in their order, `null`s kept."""
    examples = model.model_json_schema(schema_generator=_DeclaredOrder).get("examples", [])
    return copy.deepcopy(examples)
