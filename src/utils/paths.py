"""Checks for user-supplied names that become paths."""

from __future__ import annotations

import unicodedata
from pathlib import Path, PurePosixPath


def is_safe_relative_path(value: str) -> bool:
    """True for a relative POSIX path that cannot climb out of the directory it is joined to."""
    if not value or "\x00" in value or "\\" in value or value.startswith("/"):
        return False
    parts = PurePosixPath(value).parts
    return all(part not in ("..", "") for part in parts) and not value.endswith("/..")


def resolve_inside(root: Path, relative: str) -> Path:
    """Join `relative` to `root` and raise ValueError if the result (links resolved) leaves `root`."""
    if not is_safe_relative_path(relative):
        raise ValueError(f"{relative!r} is not a safe relative path")
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base):
        raise ValueError(f"{relative!r} leaves {root}")
    return candidate


MAX_FILENAME_BYTES = 200  # UTF-8 bytes, leaving room for an id prefix within the 255-byte limit


def safe_filename(name: str, *, default: str = "upload") -> str:
    """Reduce a client-supplied file name to a safe base name.

    Directories are dropped (`../../x` → `x`), NUL and control characters go,
    anything but letters, digits, `.`, `-` and `_` becomes `_`, leading dots are
    stripped (no hidden files), and the result is at most 200 UTF-8 bytes with
    its extension kept.
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base if ch.isprintable())
    cleaned = cleaned.lstrip(".").strip()
    if not cleaned or set(cleaned) <= {".", "_"}:
        return default
    if len(cleaned.encode()) <= MAX_FILENAME_BYTES:
        return cleaned
    stem, dot, suffix = cleaned.rpartition(".")
    if not (dot and stem and len(suffix.encode()) <= 16):
        stem, suffix = cleaned, ""
    budget = MAX_FILENAME_BYTES - (len(suffix.encode()) + 1 if suffix else 0)
    stem = stem.encode()[:budget].decode("utf-8", "ignore")
    return f"{stem}.{suffix}" if suffix else stem
