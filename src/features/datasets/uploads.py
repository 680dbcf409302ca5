"""Uploads in flight and the on-disk layout of dataset files.

`data/datasets/<dataset_id>/<upload_id>_<filename>` holds finished files; a file
being received is `.upload-<upload_id>.tmp` beside them until it is complete,
fsynced and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from src.features.datasets.formats import SUPPORTED_SUFFIXES
from src.utils.files import replace_durably
from src.utils.ids import new_uuid7
from src.utils.paths import safe_filename

TEMP_PREFIX = ".upload-"


def temp_name(upload_id: str) -> str:
    """The name of a file still being written beside a dataset's files (swept away on start)."""
    return f"{TEMP_PREFIX}{upload_id}.tmp"


class UnsupportedFile(ValueError):
    """The file's type cannot be a dataset."""


class UploadAborted(RuntimeError):
    """Someone aborted the upload while it was arriving."""


@dataclass
class InFlightUpload:
    upload_id: str
    dataset_id: str
    owner: str
    filename: str | None = None
    bytes_received: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


class UploadRegistry:
    """The uploads this process is receiving right now (thread-safe)."""

    def __init__(self) -> None:
        self._uploads: dict[str, InFlightUpload] = {}
        self._lock = threading.Lock()

    def start(self, *, dataset_id: str, owner: str) -> InFlightUpload:
        upload = InFlightUpload(upload_id=new_uuid7(), dataset_id=dataset_id, owner=owner)
        with self._lock:
            self._uploads[upload.upload_id] = upload
        return upload

    def finish(self, upload_id: str) -> None:
        with self._lock:
            self._uploads.pop(upload_id, None)

    def get(self, upload_id: str) -> InFlightUpload | None:
        with self._lock:
            return self._uploads.get(upload_id)

    def for_dataset(self, dataset_id: str) -> list[InFlightUpload]:
        with self._lock:
            return [u for u in self._uploads.values() if u.dataset_id == dataset_id]


class DatasetFiles:
    """Paths of dataset files under the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "datasets"

    def dataset_dir(self, dataset_id: str) -> Path:
        return self.root / dataset_id

    def path(self, dataset_id: str, stored_name: str) -> Path:
        path = (self.dataset_dir(dataset_id) / stored_name).resolve()
        if path.parent != self.dataset_dir(dataset_id).resolve():
            raise ValueError(f"{stored_name!r} is not a plain file name")
        return path

    def remove_dataset(self, dataset_id: str) -> None:
        shutil.rmtree(self.dataset_dir(dataset_id), ignore_errors=True)

    def sweep_temp_files(self) -> int:
        """Delete partial uploads left by a process that died mid-upload; returns how many."""
        removed = 0
        for temp in self.root.glob(f"*/{TEMP_PREFIX}*.tmp") if self.root.exists() else []:
            temp.unlink(missing_ok=True)
            removed += 1
        return removed


class TempFileSink:
    """Receives one upload into a temp file; `commit` makes it the final file, `discard` removes it."""

    def __init__(self, directory: Path, upload: InFlightUpload) -> None:
        self.directory = directory
        self.upload = upload
        self.temp_path = directory / temp_name(upload.upload_id)
        self._handle: BinaryIO | None = None
        self.filename: str | None = None

    def open(self, filename: str) -> None:
        name = safe_filename(filename)
        if not name.lower().endswith(SUPPORTED_SUFFIXES):
            raise UnsupportedFile(f"{name!r}: dataset files must be {' or '.join(SUPPORTED_SUFFIXES)}")
        self.filename = name
        self.upload.filename = name
        self.directory.mkdir(parents=True, exist_ok=True)
        self._handle = self.temp_path.open("xb")

    def write(self, data: bytes) -> None:
        if self.upload.cancelled.is_set():
            raise UploadAborted(self.upload.upload_id)
        assert self._handle is not None
        self._handle.write(data)

    def commit(self, final_path: Path) -> None:
        """fsync the data, rename into place, and fsync the directory so the rename survives a crash."""
        if self.upload.cancelled.is_set():
            raise UploadAborted(self.upload.upload_id)
        assert self._handle is not None
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        replace_durably(self.temp_path, final_path)

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.temp_path.unlink(missing_ok=True)
