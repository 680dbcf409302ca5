"""Dashboard pages: datasets (see src/features/ui/web.py for what every page shares).

The owner's datasets with an upload that reports its progress, and one dataset with its
validation report, each reported line opening the preview of the file at that line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.deps import ReadDep, SettingsDep, StoreDep
from src.features.auth.service import Principal
from src.features.datasets import service
from src.features.datasets.dependencies import (
    BackgroundDep,
    DatasetFilesDep,
    DatasetId,
    RegistryDep,
    receive_file,
)
from src.features.datasets.formats import RecordError, iter_raw_records
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.features.ui.sessions import UiLogin
from src.features.ui.web import CSRF_HEADER, UI_PREFIX, LoginDep, checked_change, page
from src.models.datasets import DatasetCreate, DatasetUpdate
from src.models.errors import Forbidden, Invalid
from src.storage import Store
from src.storage.tables import Dataset, DatasetFile

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)

MAX_ROWS = 100
PREVIEW_BEFORE = 5  # lines shown above the requested one
PREVIEW_LINES = 20
MAX_SHOWN_CHARS = 4000  # of one line; a record can be a whole book
READ_CHUNK = 64 * 1024
# a .json array is parsed whole to find its records (many times its size in memory): a larger
# one is not previewed on every page view; .jsonl files are read only up to the lines shown
MAX_JSON_PREVIEW_BYTES = 4 * 1024 * 1024
PLACEHOLDER_NAME = "upload"


async def checked_upload(request: Request, login: LoginDep) -> UiLogin:
    """An upload's login: its CSRF token must come as a header, since the body is a file that is
    streamed to disk under the upload limit, never parsed as a form to find the token in it."""
    if CSRF_HEADER not in request.headers:
        raise Forbidden(f"an upload sends its CSRF token as {CSRF_HEADER}", code="csrf_failed")
    return await checked_change(request, login)


UploadLoginDep = Annotated[UiLogin, Depends(checked_upload)]


# ---- the list and the upload --------------------------------------------------------------------


def _datasets(session: Session, *, principal: Principal) -> dict[str, Any]:
    rows, has_more = service.list_page(session, principal=principal, limit=MAX_ROWS)
    return {"datasets": rows, "has_more": has_more}


@router.get("/datasets", response_class=HTMLResponse)
async def ui_datasets(request: Request, login: LoginDep, read: ReadDep) -> HTMLResponse:
    """The owner's datasets, newest first, and an upload form with a progress bar."""
    context = await read(_datasets, principal=login.principal)
    return page(request, login, "datasets.html", **context)


def _create(store: Store, *, principal: Principal, name: str) -> Dataset:
    try:
        data = DatasetCreate(name=name)
    except ValidationError as exc:
        raise Invalid(f"name: {exc.errors()[0]['msg']}", param="name") from exc
    with store.session_scope() as session:
        return service.create(session, principal=principal, data=data)


def _discard(
    store: Store, *, dataset_id: str, principal: Principal, files: DatasetFiles, registry: UploadRegistry
) -> None:
    with store.session_scope() as session:
        dataset = service.get(session, dataset_id=dataset_id, principal=principal)
        service.delete(session, dataset=dataset, files=files, registry=registry)


def _name_after(store: Store, *, dataset_id: str, principal: Principal, filename: str) -> None:
    with store.session_scope() as session:
        dataset = service.get(session, dataset_id=dataset_id, principal=principal)
        service.update(session, dataset=dataset, data=DatasetUpdate(name=filename[:128]), principal=principal)


@router.post("/datasets/upload", status_code=201)
async def ui_upload_dataset(
    request: Request,
    login: UploadLoginDep,
    store: StoreDep,
    settings: SettingsDep,
    files: DatasetFilesDep,
    registry: RegistryDep,
    background: BackgroundDep,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> JSONResponse:
    """A new dataset from one file (multipart field `file`), named `name` or after its file.

    A failed upload leaves no dataset behind.
    """
    given, owner = (name or "").strip(), login.principal
    create = partial(_create, store, principal=owner, name=given or PLACEHOLDER_NAME)
    dataset = await anyio.to_thread.run_sync(create)
    machinery = {"settings": settings, "files": files, "registry": registry, "background": background}
    try:
        row, _result = await receive_file(request, store, dataset=dataset, **machinery)
    except BaseException:
        discard = partial(
            _discard, store, dataset_id=dataset.id, principal=owner, files=files, registry=registry
        )
        await anyio.to_thread.run_sync(discard)
        raise
    if not given:
        rename = partial(_name_after, store, dataset_id=dataset.id, principal=owner, filename=row.name)
        await anyio.to_thread.run_sync(rename)
    body = {"dataset_id": dataset.id, "url": f"{UI_PREFIX}/datasets/{dataset.id}"}
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


# ---- one dataset --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewLine:
    number: int
    text: str
    problem: str | None  # the validation report's reason, when it reported this line


def preview_lines(path: FilePath, *, start: int, count: int, problems: dict[int, str]) -> list[PreviewLine]:
    """Lines `start`… of a .jsonl file as they are (records by position in a .json array), cut short."""
    end = start + count
    shown: list[PreviewLine] = []
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            for number in range(1, end):
                # at most what is shown of a line is read at once: a line can be the whole file
                raw = handle.readline(MAX_SHOWN_CHARS * 4)
                if not raw:
                    break
                rest = raw
                while not rest.endswith(b"\n"):  # the rest of a long line, skipped in pieces
                    rest = handle.readline(READ_CHUNK)
                    if not rest:
                        break
                if number >= start:
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    shown.append(PreviewLine(number, text[:MAX_SHOWN_CHARS], problems.get(number)))
        return shown
    try:
        for number, value in iter_raw_records(path):
            if number >= end:
                break
            if number >= start:
                text = str(value) if isinstance(value, RecordError) else json.dumps(value, ensure_ascii=False)
                shown.append(PreviewLine(number, text[:MAX_SHOWN_CHARS], problems.get(number)))
    except RecordError:
        return shown  # the report says why the file cannot be read
    return shown


def _chosen_file(dataset: Dataset, upload_id: str | None) -> DatasetFile | None:
    """The file to preview: the one asked for, else the first with reported problems, else the first."""
    if upload_id is not None:
        return service.get_file(dataset=dataset, upload_id=upload_id)
    with_problems = [f for f in dataset.files if (f.validation or {}).get("errors")]
    return (with_problems or list(dataset.files) or [None])[0]


def _dataset_page(
    session: Session,
    *,
    dataset_id: str,
    principal: Principal,
    registry: UploadRegistry,
    files: DatasetFiles,
    line: int | None,
    upload_id: str | None,
) -> dict[str, Any]:
    dataset = service.get(session, dataset_id=dataset_id, principal=principal)
    record = service.to_record(dataset, registry=registry)
    chosen = _chosen_file(dataset, upload_id)
    start = max(1, (line or 1) - PREVIEW_BEFORE)
    lines: list[PreviewLine] = []
    preview_note = None
    if chosen is not None:
        problems = {e["line"]: e["reason"] for e in (chosen.validation or {}).get("errors", [])}
        path = files.path(dataset.id, chosen.stored_name)
        if path.is_file() and path.suffix != ".jsonl" and path.stat().st_size > MAX_JSON_PREVIEW_BYTES:
            preview_note = (
                f"A .json file over {MAX_JSON_PREVIEW_BYTES // 2**20} MiB is not previewed; .jsonl is."
            )
        elif path.is_file():
            lines = preview_lines(path, start=start, count=PREVIEW_LINES, problems=problems)
    return {
        "dataset": record,
        "chosen": chosen,
        "line": line,
        "lines": lines,
        "preview_note": preview_note,
        "start": start,
        "many_files": len(record.files) > 1,
        "validating": any(f.status.value == "validating" for f in record.files),
        "preview_size": PREVIEW_LINES,
    }


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
async def ui_dataset(
    request: Request,
    dataset_id: DatasetId,
    login: LoginDep,
    read: ReadDep,
    registry: RegistryDep,
    files: DatasetFilesDep,
    line: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    file: Annotated[str | None, Query(max_length=36)] = None,
) -> HTMLResponse:
    """A dataset: its files, counts and status, the validation report by line, and a preview at `line`."""
    context = await read(
        _dataset_page,
        dataset_id=dataset_id,
        principal=login.principal,
        registry=registry,
        files=files,
        line=line,
        upload_id=file,
    )
    return page(request, login, "dataset.html", **context)
