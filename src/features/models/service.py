"""Base models from the catalog and the model roots. Nothing is ever downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from src.utils.paths import is_safe_relative_path


@dataclass(frozen=True)
class ModelSources:
    catalog: dict[str, Path]
    roots: list[Path]


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def _hf_cache_snapshot(root: Path, name: str) -> Path | None:
    """`models--org--name/snapshots/<revision>/` in a Hugging Face cache."""
    snapshots = root / f"models--{name.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    return next((s for s in sorted(snapshots.iterdir()) if _is_model_dir(s)), None)


def resolve(name: str, *, sources: ModelSources) -> Path | None:
    """The local directory of a base model name, or None."""
    if name in sources.catalog:
        path = sources.catalog[name]
        return path.resolve() if _is_model_dir(path) else None
    if not is_safe_relative_path(name):
        return None
    for root in sources.roots:
        if _is_model_dir(root / name):
            return (root / name).resolve()
        snapshot = _hf_cache_snapshot(root, name)
        if snapshot is not None:
            return snapshot.resolve()
    return None


def base_models(*, sources: ModelSources) -> dict[str, Path]:
    """Every base model this host can train or serve: catalog entries, then model dirs under the roots."""
    found = {name: path for name, path in sources.catalog.items() if _is_model_dir(path)}
    for root in sources.roots:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if _is_model_dir(child):
                found.setdefault(child.name, child)
            elif child.name.startswith("models--"):
                name = child.name.removeprefix("models--").replace("--", "/")
                snapshot = _hf_cache_snapshot(root, name)
                if snapshot is not None:
                    found.setdefault(name, snapshot)
    return found
