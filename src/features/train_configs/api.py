"""Training config routes: the single slot (`/v1/train-config`) and named configs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError

from app.deps import PrincipalDep, ReadSessionDep, SessionDep, SettingsDep
from src.features.train_configs import service
from src.features.train_configs.dependencies import ConfigFilesDep
from src.models.common import Message, ObjectId
from src.models.errors import Invalid, TooLarge, error_responses
from src.models.train_configs import (
    SlotAnswer,
    SlotDeleted,
    SlotMetadata,
    TrainConfigPage,
    TrainConfigRead,
    TrainConfigText,
)

router = APIRouter(prefix="/v1", tags=["train configs"], responses=error_responses(400, 401, 404, 422))
ConfigId = Annotated[ObjectId, Path(description="the config's id")]

_YAML_FILE_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": ".yaml or .yml"}},
}
MULTIPART_YAML_BODY = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _YAML_FILE_SCHEMA}}}
}
MULTIPART_OR_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _YAML_FILE_SCHEMA},
            "application/json": {"schema": TrainConfigText.model_json_schema()},
        },
    }
}


async def read_config_body(request: Request, settings: SettingsDep) -> tuple[str, bytes]:
    """(file name, YAML bytes) from a multipart `file` part or a JSON `{name, content}` body."""
    limit = settings.uploads.max_yaml_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        return await service.read_multipart_yaml(request.stream(), content_type=content_type, max_bytes=limit)
    if not content_type.startswith("application/json"):
        raise Invalid("send the config as multipart/form-data (field `file`) or JSON {name, content}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > 2 * limit:
            raise TooLarge(f"a training config may be at most {limit} bytes", param="content")
    try:
        text = TrainConfigText.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    try:
        return text.name, text.content.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON can carry lone surrogates, which are not text
        raise Invalid("content is not valid Unicode text", param="content") from exc


async def read_multipart_config(request: Request, settings: SettingsDep) -> tuple[str, bytes]:
    """(file name, YAML bytes) from a multipart `file` part."""
    return await service.read_multipart_yaml(
        request.stream(),
        content_type=request.headers.get("content-type"),
        max_bytes=settings.uploads.max_yaml_bytes,
    )


ConfigBody = Annotated[tuple[str, bytes], Depends(read_config_body)]
MultipartConfig = Annotated[tuple[str, bytes], Depends(read_multipart_config)]


@router.put(
    "/train-config",
    response_model=SlotAnswer,
    responses=error_responses(413),
    openapi_extra=MULTIPART_YAML_BODY,
)
def put_train_config(
    principal: PrincipalDep,  # first: the key is checked before the body is read
    upload: MultipartConfig,
    session: SessionDep,
    settings: SettingsDep,
    files: ConfigFilesDep,
) -> SlotAnswer:
    """Upload the training YAML into your single slot, replacing what was there."""
    config = service.create(
        session,
        principal=principal,
        filename=upload[0],
        content=upload[1],
        files=files,
        max_bytes=settings.uploads.max_yaml_bytes,
        slot=True,
    )
    return SlotAnswer(train_config=service.to_slot_metadata(config))


@router.get("/train-config", response_model=SlotMetadata)
def get_train_config(session: ReadSessionDep, principal: PrincipalDep) -> SlotMetadata:
    """The metadata of the YAML in your slot, at the top level (404 when empty)."""
    return service.to_slot_metadata(service.get_slot(session, principal=principal))


@router.delete("/train-config", response_model=SlotDeleted)
def delete_train_config(session: SessionDep, principal: PrincipalDep, files: ConfigFilesDep) -> SlotDeleted:
    """Empty your slot."""
    service.delete(session, config=service.get_slot(session, principal=principal), files=files)
    return SlotDeleted()


@router.post(
    "/train-configs",
    status_code=status.HTTP_201_CREATED,
    response_model=TrainConfigRead,
    responses=error_responses(413),
    openapi_extra=MULTIPART_OR_JSON_BODY,
)
def create_train_config(
    principal: PrincipalDep,  # first: the key is checked before the body is read
    upload: ConfigBody,
    session: SessionDep,
    settings: SettingsDep,
    files: ConfigFilesDep,
) -> TrainConfigRead:
    """Add a named training config (multipart `file`, or JSON with the YAML text)."""
    config = service.create(
        session,
        principal=principal,
        filename=upload[0],
        content=upload[1],
        files=files,
        max_bytes=settings.uploads.max_yaml_bytes,
    )
    return service.to_read(config)


@router.get("/train-configs", response_model=TrainConfigPage)
def list_train_configs(
    session: ReadSessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[ObjectId | None, Query(description="id of the last config seen")] = None,
) -> TrainConfigPage:
    """List training configs, newest first."""
    rows, has_more = service.list_page(session, principal=principal, limit=limit, after=after)
    return TrainConfigPage(data=[service.to_read(c) for c in rows], has_more=has_more)


@router.get("/train-configs/{config_id}", response_model=TrainConfigRead)
def get_train_config_by_id(
    config_id: ConfigId, session: ReadSessionDep, principal: PrincipalDep
) -> TrainConfigRead:
    """A training config's metadata, summary and warnings."""
    return service.to_read(service.get(session, config_id=config_id, principal=principal))


@router.get(
    "/train-configs/{config_id}/content",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/yaml": {"schema": {"type": "string"}}}, "description": "the YAML"}
    },
)
def download_train_config(
    config_id: ConfigId, session: ReadSessionDep, principal: PrincipalDep, files: ConfigFilesDep
) -> FileResponse:
    """The YAML text as uploaded."""
    config = service.get(session, config_id=config_id, principal=principal)
    return FileResponse(files.path(config.id), media_type="application/yaml", filename=config.filename)


@router.delete("/train-configs/{config_id}", response_model=Message)
def delete_train_config_by_id(
    config_id: ConfigId, session: SessionDep, principal: PrincipalDep, files: ConfigFilesDep
) -> Message:
    """Delete a training config; datasets linked to it are unlinked."""
    service.delete(
        session, config=service.get(session, config_id=config_id, principal=principal), files=files
    )
    return Message(detail=f"training config {config_id!r} deleted")
