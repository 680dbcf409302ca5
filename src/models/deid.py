"""De-identification on the wire: the test call, policies, dataset jobs and mappings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from src.models.common import ApiModel, ObjectId, RequestModel
from src.models.examples import DATASET_ID, DEID_JOB_ID, DEID_OUTPUT_DATASET_ID, DEID_POLICY_ID

# The entity types the built-in recognizers find, in the order the README's table lists them.
BUILTIN_TYPES = (
    "PHONE",
    "LANDLINE",
    "ID_CARD",
    "BANK_CARD",
    "EMAIL",
    "IP_ADDRESS",
    "URL",
    "PASSPORT",
    "LICENSE_PLATE",
    "PERSON",
    "ADDRESS",
)
# Built-in types a policy's dictionary may add terms to: its terms are found besides the recognizer's.
TERM_TYPES = ("PERSON", "ADDRESS")
DEFAULT_POLICY_ID = "default"
MAX_DICTIONARY_TERMS = 20_000
MAX_ALLOW_LIST = 10_000

EntityTypeName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Z][A-Z0-9_]*$"),
    Field(examples=["PHONE", "PERSON"]),
]
PolicyId = Annotated[
    str,
    StringConstraints(
        max_length=36, pattern=r"^(default|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    ),
    Field(description="`default` (built in) or a policy's id", examples=["default"]),
]
# no control characters: a term never spans lines (the engine batches texts with newlines)
Term = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
AllowedValue = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _json_integer(value: Any) -> Any:
    """JSON's integers: 3 and 3.0 are, `true` and "3" are not (pydantic's lax mode takes both)."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


def _unicode_text(value: str) -> str:
    """JSON escapes can carry lone surrogates, which are not text and cannot be written back out."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("not valid Unicode text (it holds a lone surrogate)") from exc
    return value


Text = Annotated[str, AfterValidator(_unicode_text)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1), BeforeValidator(_json_integer)]
KeepCount = Annotated[int, Field(ge=0, le=64), BeforeValidator(_json_integer)]


class Operator(StrEnum):
    replace = "replace"
    mask = "mask"
    hash = "hash"
    redact = "redact"
    pseudonymize = "pseudonymize"
    keep = "keep"


class OperatorConfig(RequestModel):
    """What to do with one entity type."""

    operator: Operator = Field(description="replace | mask | hash | redact | pseudonymize | keep")
    mask_char: str = Field(default="*", min_length=1, max_length=1, description="mask: the hiding character")
    keep_start: KeepCount | None = Field(
        default=None, description="mask: letters/digits left visible at the start"
    )
    keep_end: KeepCount | None = Field(
        default=None, description="mask: letters/digits left visible at the end"
    )


class DeidPolicyWrite(RequestModel):
    """A policy: which types to find, what to do with each, what never to touch, which terms to find."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    description: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$")
    entities: dict[EntityTypeName, OperatorConfig] = Field(
        description=f"built-in types to find ({', '.join(BUILTIN_TYPES)}) and dictionary types, "
        "each with its operator; a dictionary type left out here is replaced",
        examples=[{"PHONE": {"operator": "mask"}, "ID_CARD": {"operator": "pseudonymize"}}],
    )
    allow_list: list[AllowedValue] = Field(
        default_factory=list,
        max_length=MAX_ALLOW_LIST,
        description="values left as they are (a company hotline, a support address)",
    )
    dictionary: dict[EntityTypeName, list[Term]] = Field(
        default_factory=dict,
        description="terms to find, by the entity type they are reported as (names, project code names); "
        f"terms of {' or '.join(TERM_TYPES)} are found besides the built-in recognizer's",
        examples=[{"PERSON": ["张三", "李四"]}],
    )

    @field_validator("entities")
    @classmethod
    def _known_types(cls, value: dict[str, OperatorConfig]) -> dict[str, OperatorConfig]:
        if not value:
            raise ValueError("name at least one entity type")
        return value

    @model_validator(mode="after")
    def _types_exist(self) -> DeidPolicyWrite:
        clash = sorted(set(self.dictionary) & (set(BUILTIN_TYPES) - set(TERM_TYPES)))
        if clash:
            raise ValueError(
                f"dictionary types may not reuse built-in type names other than {', '.join(TERM_TYPES)}: "
                f"{', '.join(clash)}"
            )
        unknown = sorted(set(self.entities) - set(BUILTIN_TYPES) - set(self.dictionary))
        if unknown:
            raise ValueError(
                f"unknown entity types {', '.join(unknown)}: use {', '.join(BUILTIN_TYPES)} "
                "or a type defined in `dictionary`"
            )
        if sum(len(terms) for terms in self.dictionary.values()) > MAX_DICTIONARY_TERMS:
            raise ValueError(f"a dictionary holds at most {MAX_DICTIONARY_TERMS} terms")
        return self


_POLICY = {
    "id": DEID_POLICY_ID,
    "name": "support-transcripts",
    "description": "mask phone numbers, pseudonymize ID cards and customer names",
    "owner": "alice",
    "builtin": False,
    "entities": {
        "PHONE": {"operator": "mask", "mask_char": "*", "keep_start": 3, "keep_end": 4},
        "ID_CARD": {"operator": "pseudonymize", "mask_char": "*", "keep_start": None, "keep_end": None},
        "PERSON": {"operator": "pseudonymize", "mask_char": "*", "keep_start": None, "keep_end": None},
    },
    "allow_list": ["400-820-8820"],
    "dictionary": {"PERSON": ["张三", "李四"]},
    "created_at": "2026-11-30T09:05:00Z",
    "updated_at": "2026-11-30T09:05:00Z",
}


class DeidPolicyRead(ApiModel):
    id: str
    name: str
    description: str | None
    owner: str | None = Field(description="null for the built-in default policy")
    builtin: bool
    entities: dict[str, OperatorConfig]
    allow_list: list[str]
    dictionary: dict[str, list[str]]
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(json_schema_extra={"examples": [_POLICY]})


class DeidPolicyList(ApiModel):
    object: str = "list"
    data: list[DeidPolicyRead]

    model_config = ConfigDict(json_schema_extra={"examples": [{"object": "list", "data": [_POLICY]}]})


class DeidOptions(RequestModel):
    return_mapping: StrictBool = Field(
        default=False, description="return replacement → original (admin keys only)"
    )
    seed: Seed | None = Field(default=None, description="the same seed gives the same pseudonyms")


class DeidTestRequest(RequestModel):
    policy_id: PolicyId = DEFAULT_POLICY_ID
    text: list[Text] = Field(min_length=1, description="the texts to de-identify")
    options: DeidOptions = Field(default_factory=DeidOptions)


class EntityRead(ApiModel):
    type: str
    start: int = Field(description="offset of the first character in the original text")
    end: int = Field(description="offset just past the last character in the original text")
    replacement: str


class DeidTextResult(ApiModel):
    text: str
    entities: list[EntityRead]


class DeidTestResponse(ApiModel):
    policy_id: str
    results: list[DeidTextResult]
    counts: dict[str, int] = Field(description="entities found, by type")
    mapping: dict[str, str] | None = Field(
        description="replacement → original, for replace/hash/pseudonymize; only when asked for"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "policy_id": "default",
                    "results": [
                        {
                            "text": "张三的电话是<PHONE_1>",
                            "entities": [
                                {"type": "PHONE", "start": 6, "end": 17, "replacement": "<PHONE_1>"}
                            ],
                        }
                    ],
                    "counts": {"PHONE": 1},
                    "mapping": None,
                }
            ]
        }
    )


class DeidJobCreate(RequestModel):
    policy_id: PolicyId = DEFAULT_POLICY_ID
    seed: Seed | None = Field(default=None, description="the same seed gives the same pseudonyms")
    store_mapping: StrictBool = Field(
        default=False, description="keep the reversible mapping, encrypted; an admin can read it back"
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f/\\]+$",
        description="the new dataset's name; when left out `<name>-deid`, or `<name>-deid-2`, `-3`… "
        "if the owner already has a dataset of that name",
    )


class DeidJobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class DeidJobRead(ApiModel):
    id: str
    object: str = "deid.job"
    status: DeidJobStatus
    dataset_id: str
    output_dataset_id: str
    policy_id: str
    seed: int | None
    store_mapping: bool
    files_done: int
    files_total: int
    records: int
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": DEID_JOB_ID,
                    "object": "deid.job",
                    "status": "succeeded",
                    "dataset_id": DATASET_ID,
                    "output_dataset_id": DEID_OUTPUT_DATASET_ID,
                    "policy_id": DEID_POLICY_ID,
                    "seed": 7,
                    "store_mapping": True,
                    "files_done": 1,
                    "files_total": 1,
                    "records": 80,
                    "counts": {"PERSON": 63, "PHONE": 41},
                    "error": None,
                    "created_at": "2026-11-30T09:22:05Z",
                    "started_at": "2026-11-30T09:22:05Z",
                    "finished_at": "2026-11-30T09:22:07Z",
                }
            ]
        }
    )


class MappingEntryRead(ApiModel):
    replacement: str
    type: str
    original: str


class DeidMappingRead(ApiModel):
    job_id: ObjectId
    entries: list[MappingEntryRead]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": DEID_JOB_ID,
                    "entries": [{"replacement": "王芳", "type": "PERSON", "original": "张三"}],
                }
            ]
        }
    )
