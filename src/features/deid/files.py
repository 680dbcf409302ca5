"""De-identify dataset files: every string value of every JSON record, keys untouched.

.jsonl files stream record by record in batches; a .json file (an array, or an
object with a `data` array) is read whole, as dataset validation does. A line
that is not JSON is de-identified as plain text rather than copied through: a
broken record can still hold a phone number.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from src.features.datasets.formats import MAX_JSON_ARRAY_BYTES
from src.features.deid.engine import Deidentifier

BATCH_CHARS = 256 * 1024  # text handed to the engine at once
BATCH_RECORDS = 2048
MAX_NESTING = 64  # deeper JSON is de-identified as text (walking it would exhaust the stack)


@dataclass
class FileResult:
    records: int
    bytes: int
    sha256: str


class _HashingWriter:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)


def _rebuild(value: Any, replacements: Iterator[str]) -> Any:
    if isinstance(value, str):
        return next(replacements)
    if isinstance(value, list):
        return [_rebuild(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: _rebuild(item, replacements) for key, item in value.items()}
    return value


def _dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text; escaped as ASCII when a string holds a lone surrogate (valid JSON, not valid UTF-8)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, indent=indent)
    return text


def _nested_within(value: Any, limit: int = MAX_NESTING) -> bool:
    """True when no list or object lies deeper than `limit` (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth >= limit:
                return False
            stack.extend((child, depth + 1) for child in item)
    return True


def _parse(raw: bytes) -> tuple[bool, Any]:
    """(True, value) for JSON this module can walk, (False, text) for anything else: not JSON,
    numbers Python refuses (over 4300 digits), or nesting deeper than MAX_NESTING."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        value = None
    else:
        if _nested_within(value):
            return True, value
    return False, raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n")


def deidentify_document(value: Any, engine: Deidentifier) -> Any:
    """A JSON value with every string replaced by its de-identified form."""
    texts: list[str] = []
    _strings(value, texts)
    masked = engine.deidentify_texts(texts)
    return _rebuild(value, iter(masked))


def deidentify_file(
    source: Path,
    target: Path,
    engine: Deidentifier,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> FileResult:
    """Write the de-identified copy of `source` to `target` (fsynced); returns its size and hash."""
    with target.open("xb") as handle:
        writer = _HashingWriter(handle)
        if source.suffix == ".jsonl":
            records = _deidentify_lines(source, writer, engine, should_stop)
        else:
            records = _deidentify_json(source, writer, engine)
        handle.flush()
        os.fsync(handle.fileno())
    return FileResult(records=records, bytes=writer.size, sha256=writer.digest.hexdigest())


def _deidentify_lines(
    source: Path, writer: _HashingWriter, engine: Deidentifier, should_stop: Callable[[], bool]
) -> int:
    records = 0
    batch: list[tuple[bool, Any]] = []
    batch_chars = 0

    def flush() -> None:
        texts: list[str] = []
        for is_json, item in batch:
            if is_json:
                _strings(item, texts)
            else:
                texts.append(item)
        masked = iter(engine.deidentify_texts(texts))
        out = []
        for is_json, item in batch:
            if is_json:
                out.append(_dumps(_rebuild(item, masked)))
            else:
                out.append(next(masked))
        writer.write(("\n".join(out) + "\n").encode("utf-8", errors="surrogateescape"))
        batch.clear()

    with source.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            parsed = _parse(raw)
            batch.append(parsed)
            records += 1
            batch_chars += len(raw)
            if batch_chars >= BATCH_CHARS or len(batch) >= BATCH_RECORDS:
                if should_stop():
                    raise InterruptedError("stopped with the service")
                flush()
                batch_chars = 0
    if batch:
        flush()
    return records


def _deidentify_json(source: Path, writer: _HashingWriter, engine: Deidentifier) -> int:
    if source.stat().st_size > MAX_JSON_ARRAY_BYTES:
        raise ValueError(f"{source.name}: a .json file over {MAX_JSON_ARRAY_BYTES} bytes; use .jsonl")
    is_json, document = _parse(source.read_bytes())
    if not is_json:
        (masked,) = engine.deidentify_texts([document])
        writer.write(masked.encode("utf-8", errors="surrogateescape"))
        return 0
    writer.write(_dumps(deidentify_document(document, engine), indent=1).encode())
    return _record_count(document)


def _record_count(document: Any) -> int:
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        return len(document["data"])
    return len(document) if isinstance(document, list) else 1
