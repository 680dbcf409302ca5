"""Training configs: the owner's single slot and named configs, stored as YAML files."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.train_configs.yaml_checks import YamlRejected, load_training_yaml, summarize, warnings_for
from src.models.errors import Invalid, NotFound, TooLarge
from src.models.train_configs import SlotMetadata, TrainConfigRead
from src.storage.paging import keyset_page
from src.storage.scoping import get_owned, owned
from src.storage.tables import TrainConfig
from src.utils.files import write_file_atomic
from src.utils.ids import new_uuid7
from src.utils.multipart import MultipartError, PayloadTooLarge, receive_file
from src.utils.paths import safe_filename

YAML_SUFFIXES = (".yaml", ".yml")


class ConfigFiles:
    """`data/train_configs/<id>.yaml`."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "train_configs"

    def path(self, config_id: str) -> Path:
        return self.root / f"{config_id}.yaml"


class _MemorySink:
    """Keeps a small multipart file in memory (the size cap bounds it)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def open(self, filename: str) -> None:
        self.data.clear()

    def write(self, data: bytes) -> None:
        self.data += data


async def read_multipart_yaml(
    chunks: AsyncIterator[bytes], *, content_type: str | None, max_bytes: int
) -> tuple[str, bytes]:
    """(file name, bytes) of the `file` part of a multipart body, capped at `max_bytes`."""
    sink = _MemorySink()
    try:
        received = await receive_file(chunks, content_type=content_type, sink=sink, max_bytes=max_bytes)
    except PayloadTooLarge as exc:
        raise TooLarge(f"a training config may be at most {max_bytes} bytes", param="file") from exc
    except MultipartError as exc:
        raise Invalid(str(exc), param="file", code="bad_multipart") from exc
    return received.filename, bytes(sink.data)


def _checked(filename: str, content: bytes, *, max_bytes: int) -> tuple[str, dict, list[str]]:
    """Safe file name, summary and warnings of a YAML config, or a 400/413 saying what is wrong."""
    name = safe_filename(filename, default="config.yaml")
    if not name.lower().endswith(YAML_SUFFIXES):
        raise Invalid(f"{name!r}: a training config must be a .yaml or .yml file", param="file")
    if len(content) > max_bytes:
        raise TooLarge(f"a training config may be at most {max_bytes} bytes", param="file")
    try:
        document = load_training_yaml(content)
    except YamlRejected as exc:
        raise Invalid(str(exc), param="file", code="invalid_yaml") from exc
    return name, summarize(document), warnings_for(document)


def create(
    session: Session,
    *,
    principal: Principal,
    filename: str,
    content: bytes,
    files: ConfigFiles,
    max_bytes: int,
    slot: bool = False,
) -> TrainConfig:
    """Check and store a config; a slot config replaces the owner's previous slot."""
    name, summary, warnings = _checked(filename, content, max_bytes=max_bytes)
    if slot:
        previous = get_slot(session, principal=principal, missing_ok=True)
        if previous is not None:
            delete(session, config=previous, files=files)
    config = TrainConfig(
        id=new_uuid7(),
        owner=principal.owner,
        name=name,
        filename=name,
        is_slot=slot,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        summary=summary,
        warnings=warnings,
    )
    session.add(config)
    session.flush()
    write_file_atomic(files.path(config.id), content)
    return config


def get(session: Session, *, config_id: str, principal: Principal) -> TrainConfig:
    """The config, or 404 when it does not exist or belongs to another owner."""
    return get_owned(session, TrainConfig, config_id, principal, what="training config", param="config_id")


def get_slot(session: Session, *, principal: Principal, missing_ok: bool = False) -> TrainConfig | None:
    """The caller's slot config (404 when none, unless `missing_ok`)."""
    config = session.scalar(
        select(TrainConfig).where(TrainConfig.owner == principal.owner, TrainConfig.is_slot.is_(True))
    )
    if config is None and not missing_ok:
        raise NotFound("no training config has been uploaded", param="train_config")
    return config


def list_page(
    session: Session, *, principal: Principal, limit: int, after: str | None = None
) -> tuple[list[TrainConfig], bool]:
    """Newest first, by keyset on the time-ordered id."""
    stmt = owned(select(TrainConfig), TrainConfig, principal)
    if after is not None:
        try:
            get(session, config_id=after, principal=principal)
        except NotFound as exc:
            raise NotFound(f"cursor config {after!r} not found", param="after") from exc
    return keyset_page(session, stmt, key=TrainConfig.id, limit=limit, after=after)


def delete(session: Session, *, config: TrainConfig, files: ConfigFiles) -> None:
    """Delete the config and its file; datasets linked to it are unlinked."""
    session.delete(config)
    session.flush()
    files.path(config.id).unlink(missing_ok=True)


def to_read(config: TrainConfig) -> TrainConfigRead:
    return TrainConfigRead(
        id=config.id,
        name=config.name,
        filename=config.filename,
        owner=config.owner,
        size=config.size,
        sha256=config.sha256,
        uploaded_at=config.uploaded_at,
        slot=config.is_slot,
        summary=config.summary,
        warnings=config.warnings,
    )


def to_slot_metadata(config: TrainConfig) -> SlotMetadata:
    return SlotMetadata(
        id=config.id,
        filename=config.filename,
        uploaded_at=config.uploaded_at,
        size=config.size,
        summary=config.summary,
        warnings=config.warnings,
    )
