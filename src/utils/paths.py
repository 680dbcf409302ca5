"""Checks for user-supplied names that become paths."""

from __future__ import annotations

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
