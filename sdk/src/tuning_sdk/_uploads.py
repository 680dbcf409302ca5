"""Multipart uploads streamed from disk, chunk by chunk, for both clients.

The body is written here rather than by httpx's `files=`, because httpx's multipart reads
files synchronously even in the async client. Each iteration opens the file again, so a
retried request sends the whole file again; the length is known up front, so the request
carries Content-Length rather than chunked encoding.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

ProgressCallback = Callable[[int, int], None]
CHUNK_SIZE = 64 * 1024


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartFile:
    """One file (as the part `file`) plus text fields, as a multipart/form-data body."""

    def __init__(self, path: str | Path, on_progress: ProgressCallback | None = None, **fields: str) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self.on_progress = on_progress
        boundary = f"tuning-sdk-{uuid.uuid4().hex}"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="{_quoted(self.path.name)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        self._head = "".join(parts).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self.headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(self._head) + self.size + len(self._tail)),
        }

    def _sent(self, sent: int) -> None:
        if self.on_progress is not None:
            self.on_progress(sent, self.size)

    def request_options(self) -> dict[str, Any]:
        """Transport options for the sync client."""
        return {"content": _SyncBody(self), "headers": self.headers}

    def async_request_options(self) -> dict[str, Any]:
        """Transport options for the async client: the file is read off the event loop."""
        return {"content": _AsyncBody(self), "headers": self.headers}


class _SyncBody:
    def __init__(self, upload: MultipartFile) -> None:
        self._upload = upload

    def __iter__(self) -> Iterator[bytes]:
        upload, sent = self._upload, 0
        yield upload._head
        with upload.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                sent += len(chunk)
                upload._sent(sent)
                yield chunk
        yield upload._tail


class _AsyncBody:
    def __init__(self, upload: MultipartFile) -> None:
        self._upload = upload

    async def __aiter__(self) -> AsyncIterator[bytes]:
        upload, sent = self._upload, 0
        yield upload._head
        handle = await asyncio.to_thread(upload.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                sent += len(chunk)
                upload._sent(sent)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)
        yield upload._tail
