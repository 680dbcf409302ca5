"""Receive one file from a streamed multipart/form-data body without buffering it.

The body's chunks go through python-multipart's push parser; the file part's
bytes are gathered into batches that are hashed and written off the event loop
by a thread, so memory stays flat and the loop keeps serving other requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio.lowlevel
import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_FIELD_BYTES = 64 * 1024  # other form fields are read but must stay small
MAX_PARTS = 16  # the file and a few fields; thousands of empty parts are an attack, not a form
MAX_HEADER_BYTES = 16 * 1024  # the headers of one part


class MultipartError(ValueError):
    """The body is not a usable multipart form."""


class PayloadTooLarge(MultipartError):
    """The file is larger than the cap."""


class FileSink(Protocol):
    """Where the file's bytes go; its methods run in a worker thread."""

    def open(self, filename: str) -> None: ...

    def write(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class ReceivedFile:
    filename: str
    size: int
    sha256: str
    fields: dict[str, str]


class _Events:
    """Collects parser callbacks so the async side can act on them after each write()."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0
        self.finished = False

    def _check_header_size(self) -> None:
        if self.header_bytes + len(self.header_field) + len(self.header_value) > MAX_HEADER_BYTES:
            raise MultipartError(f"the headers of a form part are larger than {MAX_HEADER_BYTES} bytes")

    def callbacks(self) -> dict[str, Callable[..., None]]:
        def on_part_begin() -> None:
            self.headers = {}
            self.header_bytes = 0

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self.header_field += data[start:end]
            self._check_header_size()

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self.header_value += data[start:end]
            self._check_header_size()

        def on_header_end() -> None:
            self.header_bytes += len(self.header_field) + len(self.header_value)
            self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
            self.header_field.clear()
            self.header_value.clear()

        def on_headers_finished() -> None:
            self.items.append(("part", self.headers.get(b"content-disposition", b"")))

        def on_part_data(data: bytes, start: int, end: int) -> None:
            self.items.append(("data", data[start:end]))

        def on_end() -> None:
            self.finished = True

        return {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_end": on_end,
        }


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data content type, or MultipartError."""
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise MultipartError("expected a multipart/form-data body")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise MultipartError("the multipart body has no usable boundary")
    return boundary


async def receive_file(
    chunks: AsyncIterator[bytes],
    *,
    content_type: str | None,
    sink: FileSink,
    max_bytes: int,
    field_name: str = "file",
    batch_bytes: int = 4 << 20,
    on_progress: Callable[[int], None] | None = None,
) -> ReceivedFile:
    """Stream the `field_name` file part of the body into `sink`; return its name, size and SHA-256."""
    events = _Events()
    parser = MultipartParser(multipart_boundary(content_type), events.callbacks())
    hasher = hashlib.sha256()
    batch: list[bytes] = []
    batch_size = 0
    filename: str | None = None
    in_file = False
    size = 0
    field_bytes = 0
    fields: dict[str, bytearray] = {}
    current_field: str | None = None
    parts = 0

    def write(pieces: list[bytes]) -> None:
        for piece in pieces:
            hasher.update(piece)
            sink.write(piece)

    async def flush() -> None:
        nonlocal batch, batch_size
        if batch:
            pieces, batch, batch_size = batch, [], 0
            await anyio.to_thread.run_sync(write, pieces)

    async for chunk in chunks:
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise MultipartError(f"malformed multipart body: {exc}") from exc
        for kind, value in events.items:
            if kind == "part":
                parts += 1
                if parts > MAX_PARTS:
                    raise MultipartError(f"the form has more than {MAX_PARTS} parts")
                await flush()
                _, params = parse_options_header(value)
                in_file = (
                    params.get(b"name") == field_name.encode() and b"filename" in params and filename is None
                )
                current_field = None if in_file else params.get(b"name", b"").decode("utf-8", "replace")
                if current_field is not None:
                    fields.setdefault(current_field, bytearray())
                if in_file:
                    filename = params[b"filename"].decode("utf-8", "replace")
                    await anyio.to_thread.run_sync(sink.open, filename)
            elif in_file:
                size += len(value)
                if size > max_bytes:
                    raise PayloadTooLarge(f"the file is larger than the {max_bytes}-byte limit")
                batch.append(value)
                batch_size += len(value)
                if batch_size >= batch_bytes:
                    await flush()
            else:
                field_bytes += len(value)
                if field_bytes > MAX_FIELD_BYTES:
                    raise MultipartError("form fields other than the file are too large")
                if current_field is not None:
                    fields[current_field] += value
        events.items.clear()
        if on_progress is not None and in_file:
            on_progress(size)
        await anyio.lowlevel.checkpoint()  # let other requests run between chunks that arrive back to back
    await flush()
    if not events.finished:
        raise MultipartError("the multipart body ended before its closing boundary")
    if filename is None:
        raise MultipartError(f"no file part named {field_name!r} in the form")
    if on_progress is not None:
        on_progress(size)
    return ReceivedFile(
        filename=filename,
        size=size,
        sha256=hasher.hexdigest(),
        fields={name: value.decode("utf-8", "replace") for name, value in fields.items()},
    )
