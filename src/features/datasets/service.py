"""Datasets: records, streamed uploads, validation, preview, deletion."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.datasets.formats import ValidationReport, preview_records, validate_file
from src.features.datasets.uploads import (
    DatasetFiles,
    TempFileSink,
    UnsupportedFile,
    UploadAborted,
    UploadRegistry,
    temp_name,
)
from src.features.train_configs import service as train_configs_service
from src.models.datasets import (
    DatasetCreate,
    DatasetFileRead,
    DatasetRecord,
    DatasetStatus,
    DatasetUpdate,
    FileStatus,
    PreviewRecord,
    TrainConfigLink,
    UploadInFlight,
    UploadProgress,
    UploadResult,
)
from src.models.errors import Conflict, Invalid, NotFound, TooLarge
from src.models.runs import ACTIVE_STATUSES
from src.storage import Store
from src.storage.paging import keyset_page
from src.storage.scoping import ensure_owned, get_owned, may_see, owned
from src.storage.tables import Dataset, DatasetFile, Run, TrainConfig
from src.utils.files import replace_durably
from src.utils.ids import new_uuid7
from src.utils.multipart import MultipartError, PayloadTooLarge, receive_file

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # room for part headers and boundaries on top of the file itself


class WrittenFile(Protocol):
    """What the writer of a generated file reports: its size and SHA-256, measured as it wrote."""

    bytes: int
    sha256: str


Written = TypeVar("Written", bound=WrittenFile)


def create(session: Session, *, principal: Principal, data: DatasetCreate) -> Dataset:
    """Create an empty dataset owned by the caller."""
    dataset = Dataset(
        id=new_uuid7(),
        owner=principal.owner,
        name=data.name,
        type=data.type,
        description=data.description,
        task_type=data.task_type,
        extra=data.metadata,
        strict=data.strict,
        status=DatasetStatus.pending.value,
    )
    if data.train_config is not None:
        dataset.train_config = train_configs_service.get(
            session, config_id=data.train_config, principal=principal
        )
    session.add(dataset)
    session.flush()
    return dataset


def _linkable_config(session: Session, *, config_id: str, principal: Principal) -> TrainConfig:
    """A config the caller may link; one that does not exist (for them) is a 400 on the body."""
    try:
        return train_configs_service.get(session, config_id=config_id, principal=principal)
    except NotFound as exc:
        raise Invalid(f"training config {config_id!r} not found", param="train_config") from exc


def get(session: Session, *, dataset_id: str, principal: Principal) -> Dataset:
    """The dataset, or 404 when it does not exist or belongs to another owner."""
    return get_owned(session, Dataset, dataset_id, principal, what="dataset", param="dataset_id")


def list_page(
    session: Session,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    status: DatasetStatus | None = None,
    name: str | None = None,
) -> tuple[list[Dataset], bool]:
    """Newest first, by keyset on the time-ordered id; returns (datasets, has_more)."""
    stmt = owned(select(Dataset), Dataset, principal)
    if status is not None:
        stmt = stmt.where(Dataset.status == status.value)
    if name is not None:
        stmt = stmt.where(Dataset.name == name)
    if after is not None:
        try:
            get(session, dataset_id=after, principal=principal)
        except NotFound as exc:
            raise NotFound(f"cursor dataset {after!r} not found", param="after") from exc
    return keyset_page(session, stmt, key=Dataset.id, limit=limit, after=after)


def update(session: Session, *, dataset: Dataset, data: DatasetUpdate, principal: Principal) -> Dataset:
    """Apply the fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    if "train_config" in changes:
        config_id = changes.pop("train_config")
        dataset.train_config = (
            None
            if config_id is None
            else train_configs_service.get(session, config_id=config_id, principal=principal)
        )
    if "metadata" in changes:
        dataset.extra = changes.pop("metadata") or {}
    for name, value in changes.items():
        if value is None and name == "name":
            raise Invalid("name cannot be null", param="name")
        setattr(dataset, name, value)
    session.flush()
    return dataset


def delete(session: Session, *, dataset: Dataset, files: DatasetFiles, registry: UploadRegistry) -> None:
    """Delete the dataset, its files and uploads in flight; refused while an unfinished run uses it."""
    active = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.dataset_id == dataset.id, Run.status.in_([s.value for s in ACTIVE_STATUSES]))
    )
    if active:
        raise Invalid(
            f"dataset {dataset.id!r} is used by {active} unfinished run(s); cancel them or wait first",
            param="dataset_id",
            code="dataset_in_use",
        )
    for upload in registry.for_dataset(dataset.id):
        upload.cancelled.set()
    session.execute(Run.__table__.update().where(Run.dataset_id == dataset.id).values(dataset_id=None))
    session.delete(dataset)
    session.flush()
    files.remove_dataset(dataset.id)


def to_record(dataset: Dataset, *, registry: UploadRegistry) -> DatasetRecord:
    """The wire form of a dataset, with the uploads still arriving."""
    in_flight = registry.for_dataset(dataset.id)
    link = dataset.train_config
    return DatasetRecord(
        id=dataset.id,
        name=dataset.name,
        owner=dataset.owner,
        type=dataset.type,
        description=dataset.description,
        task_type=dataset.task_type,
        metadata=dataset.extra,
        strict=dataset.strict,
        status=DatasetStatus(dataset.status),
        status_reasons=_status_reasons(dataset),
        files=[DatasetFileRead.model_validate(f) for f in dataset.files],
        train_config=TrainConfigLink(id=link.id, name=link.name, filename=link.filename) if link else None,
        upload_progress=UploadProgress(
            files_count=len(dataset.files),
            bytes_received=sum(u.bytes_received for u in in_flight),
            uploads=[
                UploadInFlight(upload_id=u.upload_id, filename=u.filename, bytes_received=u.bytes_received)
                for u in in_flight
            ],
        ),
        created_at=dataset.created_at,
        updated_at=dataset.updated_at,
    )


def _status_reasons(dataset: Dataset) -> list[str]:
    """One line for each file that training leaves out, and why."""
    return [
        f"{file.name}: {reason}"
        for file in dataset.files
        if (reason := left_out_reason(file.status, file.validation)) is not None
    ]


def left_out_reason(status: str, validation: dict[str, Any] | None) -> str | None:
    """Why a file with this status and report is left out of training; None when it is not."""
    if status not in (FileStatus.partial.value, FileStatus.invalid.value):
        return None
    report = validation or {}
    first = (report.get("errors") or [None])[0]
    where = f"line {first['line']}: {first['reason']}" if first else "no valid records"
    if status == FileStatus.invalid.value:
        return f"no valid records ({report.get('fatal') or where})"
    invalid, total = report.get("invalid_conversations", 0), report.get("total_loaded", 0)
    return (
        f"{invalid} of {total} records are invalid, so the file is not used for training "
        f"until they are fixed or removed (first: {where})"
    )


def file_status(report: ValidationReport) -> FileStatus:
    """valid when every record can train, partial when only some can, invalid when none can."""
    if report.fatal is not None or report.valid_conversations == 0:
        return FileStatus.invalid
    return FileStatus.partial if report.invalid_conversations else FileStatus.valid


def refresh_status(session: Session, *, dataset: Dataset) -> None:
    """pending while empty or validating; ready once a file is wholly valid; else invalid."""
    statuses = {f.status for f in dataset.files}
    if not statuses or FileStatus.validating.value in statuses:
        dataset.status = DatasetStatus.pending.value
    elif FileStatus.valid.value in statuses:
        dataset.status = DatasetStatus.ready.value
    else:
        dataset.status = DatasetStatus.invalid.value
    session.flush()


async def receive_upload(
    store: Store,
    *,
    dataset: Dataset,
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    content_length: int | None,
    files: DatasetFiles,
    registry: UploadRegistry,
    max_bytes: int,
) -> tuple[DatasetFile, dict[str, str]]:
    """Stream a multipart upload to disk, hash it, and record it only once it is whole and durable.

    Returns the file's record and the other (small) form fields sent beside it.
    """
    if content_length is not None and content_length > max_bytes + MULTIPART_OVERHEAD:
        raise TooLarge(f"the upload is larger than the {max_bytes}-byte limit", param="file")
    upload = registry.start(dataset_id=dataset.id, owner=dataset.owner)
    sink = TempFileSink(files.dataset_dir(dataset.id), upload)
    committed = None
    try:
        received = await receive_file(
            chunks,
            content_type=content_type,
            sink=sink,
            max_bytes=max_bytes,
            on_progress=lambda size: setattr(upload, "bytes_received", size),
        )
        stored_name = f"{upload.upload_id}_{sink.filename}"
        committed = files.path(dataset.id, stored_name)
        await anyio.to_thread.run_sync(sink.commit, committed)
        row = DatasetFile(
            upload_id=upload.upload_id,
            dataset_id=dataset.id,
            name=sink.filename or stored_name,
            stored_name=stored_name,
            bytes=received.size,
            sha256=received.sha256,
            status=FileStatus.validating.value,
        )
        row = await anyio.to_thread.run_sync(_record_upload, store, row)
        return row, received.fields
    except PayloadTooLarge as exc:
        raise TooLarge(str(exc), param="file") from exc
    except UnsupportedFile as exc:
        raise Invalid(str(exc), param="file", code="unsupported_file_type") from exc
    except MultipartError as exc:
        raise Invalid(str(exc), param="file", code="bad_multipart") from exc
    except UploadAborted as exc:
        raise Invalid("the upload was aborted", param="upload_id", code="upload_aborted") from exc
    except BaseException:
        if committed is not None:
            committed.unlink(missing_ok=True)
        raise
    finally:
        sink.discard()
        registry.finish(upload.upload_id)


def _record_upload(store: Store, row: DatasetFile) -> DatasetFile:
    with store.session_scope() as session:
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {row.dataset_id!r} was deleted during the upload", param="dataset_id")
        session.add(row)
        session.flush()
        session.refresh(dataset)
        refresh_status(session, dataset=dataset)
    return row


def validate_upload(
    store: Store, *, upload_id: str, files: DatasetFiles, should_stop: Callable[[], bool] | None = None
) -> None:
    """Check every record of an uploaded file and store the report and the dataset's new status."""
    with store.session_scope(read_only=True) as session:
        row = session.get(DatasetFile, upload_id)
        if row is None:
            return
        path, strict = files.path(row.dataset_id, row.stored_name), row.dataset.strict

    def stop_early() -> bool:
        # the file was aborted or its dataset deleted: nothing left to report on
        return (should_stop is not None and should_stop()) or not path.exists()

    try:
        report = validate_file(path, strict=strict, should_stop=stop_early)
    except InterruptedError:
        logger.info("validation of %s stopped; it resumes on the next start", upload_id)
        return
    except FileNotFoundError:
        return  # aborted while it was being checked
    with store.session_scope() as session:
        row = session.get(DatasetFile, upload_id)
        if row is None:
            return
        row.validation = report.as_dict()
        row.format = report.format
        row.records = report.valid_conversations
        row.status = file_status(report).value
        session.flush()
        refresh_status(session, dataset=row.dataset)


def free_name(session: Session, *, owner: str, stem: str) -> str:
    """`stem`, or `stem-2`, `stem-3`…: the first name the owner has no dataset of."""
    taken = set(
        session.scalars(
            select(Dataset.name).where(Dataset.owner == owner, Dataset.name.startswith(stem, autoescape=True))
        )
    )
    if stem not in taken:
        return stem
    return next(name for n in itertools.count(2) if (name := f"{stem}-{n}") not in taken)


def add_generated_file(
    store: Store, *, dataset_id: str, name: str, files: DatasetFiles, write: Callable[[Path], Written]
) -> tuple[str, Written]:
    """Add a file the service writes itself (not an upload) to a dataset, as an upload is added.

    `write(path)` creates and fills a temp file beside the dataset's files; the whole file is
    then renamed into place and recorded as validating. Returns its upload id and what `write`
    returned; hand the id to `validate_upload` next.
    """
    upload_id = new_uuid7()
    directory = files.dataset_dir(dataset_id)
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / temp_name(upload_id)
    stored_name = f"{upload_id}_{name}"
    final = files.path(dataset_id, stored_name)
    try:
        written = write(temp)
        replace_durably(temp, final)
        row = DatasetFile(
            upload_id=upload_id,
            dataset_id=dataset_id,
            name=name,
            stored_name=stored_name,
            bytes=written.bytes,
            sha256=written.sha256,
            status=FileStatus.validating.value,
        )
        _record_upload(store, row)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        temp.unlink(missing_ok=True)
    return upload_id, written


def clear_files(session: Session, *, dataset: Dataset, files: DatasetFiles) -> None:
    """Remove every file of a dataset, and anything half-written beside them; the dataset stays."""
    for row in list(dataset.files):
        session.delete(row)
    session.flush()
    session.refresh(dataset)
    refresh_status(session, dataset=dataset)
    files.remove_dataset(dataset.id)


def discard(session: Session, *, dataset_id: str, files: DatasetFiles) -> None:
    """Delete a dataset the service was writing, with whatever files it has (it may be gone already)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is not None:
        session.delete(dataset)
        session.flush()
    files.remove_dataset(dataset_id)


def abort_upload(session: Session, *, upload_id: str, principal: Principal, registry: UploadRegistry) -> None:
    """Stop an upload in flight; a finished one is a 409 that names the route removing its file."""
    in_flight = registry.get(upload_id)
    if in_flight is not None and may_see(principal, in_flight.owner):
        in_flight.cancelled.set()
        return
    row = ensure_owned(
        session.get(DatasetFile, upload_id),
        principal,
        what=f"upload {upload_id!r}",
        param="upload_id",
        owner_of=lambda upload: upload.dataset.owner,
    )
    raise Conflict(
        f"upload {upload_id!r} is complete, there is nothing to abort; remove its file with "
        f"DELETE /v1/datasets/{row.dataset_id}/files/{upload_id}",
        param="upload_id",
        code="upload_finished",
    )


def remove_file(session: Session, *, dataset: Dataset, upload_id: str, files: DatasetFiles) -> None:
    """Remove one uploaded file of the dataset and its record; the dataset's status follows."""
    row = get_file(dataset=dataset, upload_id=upload_id)
    path = files.path(dataset.id, row.stored_name)
    session.delete(row)
    session.flush()
    session.refresh(dataset)
    refresh_status(session, dataset=dataset)
    path.unlink(missing_ok=True)


def get_file(*, dataset: Dataset, upload_id: str) -> DatasetFile:
    for file in dataset.files:
        if file.upload_id == upload_id:
            return file
    raise NotFound(f"upload {upload_id!r} not found in dataset {dataset.id!r}", param="upload_id")


def preview(dataset: Dataset, *, files: DatasetFiles, limit: int) -> list[PreviewRecord]:
    """The first `limit` valid records across the dataset's files, parsed."""
    found: list[PreviewRecord] = []
    for file in dataset.files:
        if len(found) >= limit or file.status not in (FileStatus.valid.value, FileStatus.partial.value):
            continue
        path = files.path(dataset.id, file.stored_name)
        for item in preview_records(path, limit=limit - len(found), strict=dataset.strict):
            found.append(PreviewRecord(upload_id=file.upload_id, **item))
    return found


async def validate_or_schedule(
    store: Store,
    *,
    row: DatasetFile,
    files: DatasetFiles,
    inline_limit: int,
    submit: Callable[..., object],
    should_stop: Callable[[], bool],
) -> UploadResult:
    """Validate a small file before answering; hand a large one to a background worker."""
    if row.bytes > inline_limit:
        submit(validate_upload, store, upload_id=row.upload_id, files=files, should_stop=should_stop)
        return upload_result(row)
    await anyio.to_thread.run_sync(lambda: validate_upload(store, upload_id=row.upload_id, files=files))
    with store.session_scope(read_only=True) as session:
        current = session.get(DatasetFile, row.upload_id)
    if current is None:
        raise NotFound(f"upload {row.upload_id!r} was removed while it was validated", param="upload_id")
    return upload_result(current)


def name_after_upload(session: Session, *, dataset_id: str, filename: str, purpose: str) -> Dataset:
    """Name a dataset made by the OpenAI files API after its file, and keep the purpose."""
    dataset = session.get(Dataset, dataset_id)
    assert dataset is not None
    dataset.name = filename[:128]
    dataset.extra = {**dataset.extra, "purpose": purpose[:64]}
    session.flush()
    session.refresh(dataset)
    return dataset


def upload_result(row: DatasetFile) -> UploadResult:
    """The answer to an upload: its file, status and record counts (none while validating)."""
    report = row.validation or {}
    return UploadResult(
        upload_id=row.upload_id,
        dataset_id=row.dataset_id,
        bytes=row.bytes,
        filename=row.name,
        stored_name=row.stored_name,
        sha256=row.sha256,
        status=FileStatus(row.status),
        records=row.records,
        invalid_records=report.get("invalid_conversations"),
        status_reason=left_out_reason(row.status, row.validation),
    )


def pending_validations(store: Store) -> list[str]:
    """Uploads whose validation never finished (the service stopped mid-way)."""
    with store.session_scope(read_only=True) as session:
        return list(session.scalars(select(DatasetFile.upload_id).where(DatasetFile.status == "validating")))
