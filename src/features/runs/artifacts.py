"""Artifact registration: the files a run left in its output directory, hashed and recorded once."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.storage.tables import RunArtifact
from src.utils.ids import new_uuid7

MAX_ARTIFACTS = 10_000


def is_checkpoint(relative: str) -> bool:
    """A file inside a `checkpoint-<step>/` folder of the output directory."""
    return relative.split("/", 1)[0].startswith("checkpoint-")


def artifact_kind(relative: str) -> str:
    name = relative.rsplit("/", 1)[-1]
    if is_checkpoint(relative):
        return "checkpoint"
    if name.startswith("adapter_"):
        return "adapter"
    if name.endswith((".log", ".jsonl")) or name == "trainer_log.jsonl":
        return "log"
    if name.endswith((".safetensors", ".bin", ".pt", ".gguf")):
        return "model"
    if name.endswith((".json", ".yaml", ".yml", ".txt", ".model")):
        return "config"
    return "other"


def scan_artifacts(output_dir: Path) -> list[dict[str, object]]:
    """Path, size, SHA-256 and kind of every file under a run's output directory."""
    files = sorted(p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink())[:MAX_ARTIFACTS]
    found = []
    for path in files:
        relative = path.relative_to(output_dir).as_posix()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        found.append(
            {
                "path": relative,
                "bytes": path.stat().st_size,
                "sha256": digest.hexdigest(),
                "kind": artifact_kind(relative),
            }
        )
    return found


def register_artifacts(session: Session, *, run_id: str, found: list[dict[str, object]]) -> None:
    """Add the scanned files the run does not list yet."""
    known = set(session.scalars(select(RunArtifact.path).where(RunArtifact.run_id == run_id)))
    for artifact in found:
        if artifact["path"] not in known:
            session.add(RunArtifact(id=new_uuid7(), run_id=run_id, tags=[], **artifact))
