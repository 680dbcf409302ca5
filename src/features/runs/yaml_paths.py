"""Keep the paths a training YAML names inside what its run may touch.

A trainer reads and writes wherever its YAML says. The service writes the
staged copy itself: every key the trainer writes to is re-rooted into the run's
own workspace, keys it reads from must be plain relative paths (no `..`, not
absolute), and no model or adapter path may point into the workspaces of
other runs.
"""

from __future__ import annotations

import posixpath
from typing import Any

# LLaMA-Factory / Hugging Face keys the trainer writes under: re-rooted into the workspace
WRITE_KEYS = ("output_dir", "logging_dir", "export_dir", "tokenized_path", "cache_dir")
# keys it reads from, relative to its working directory
READ_KEYS = ("dataset_dir", "media_dir", "deepspeed", "resume_from_checkpoint", "ray_storage_path")
# model sources: a hub name or an admin's model directory, never another run's files
MODEL_KEYS = (
    "model_name_or_path",
    "adapter_name_or_path",
    "tokenizer_name_or_path",
    "ref_model",
    "reward_model",
)


class YamlPathRefused(ValueError):
    """A path in the YAML is not allowed; `key` names it."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


def _relative_inside(value: str, *, key: str) -> str:
    normalized = posixpath.normpath(value.strip())
    if posixpath.isabs(normalized) or normalized == ".." or normalized.startswith("../") or "\x00" in value:
        raise YamlPathRefused(
            f"{key} {value!r} must be a relative path that stays inside the run's directory", key=key
        )
    return normalized


def confine_paths(document: dict[str, Any], *, exec_workspace: str, exec_runs_root: str) -> dict[str, Any]:
    """The document with write paths inside `exec_workspace`; raises YamlPathRefused for the rest.

    `output_dir` defaults to `<workspace>/output`; `exec_runs_root` is the directory
    holding every run's workspace, as the training process sees it.
    """
    confined = dict(document)
    for key in WRITE_KEYS:
        value = confined.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if key == "output_dir":
                confined[key] = posixpath.join(exec_workspace, "output")
            continue
        if not isinstance(value, str):
            raise YamlPathRefused(f"{key} must be a string path", key=key)
        relative = _relative_inside(value, key=key)
        confined[key] = exec_workspace if relative == "." else posixpath.join(exec_workspace, relative)
    for key in READ_KEYS:
        value = confined.get(key)
        if isinstance(value, str) and value.strip():
            _relative_inside(value, key=key)
        elif value is not None and not isinstance(value, (str, bool)):
            raise YamlPathRefused(f"{key} must be a string path", key=key)
    runs_root = posixpath.normpath(exec_runs_root)
    own = posixpath.normpath(exec_workspace)
    for key in MODEL_KEYS:
        value = confined.get(key)
        if not isinstance(value, str):
            continue
        for item in value.split(","):  # LLaMA-Factory takes comma-separated adapters
            path = posixpath.normpath(item.strip())
            if ".." in path.split("/"):
                raise YamlPathRefused(f"{key} {item.strip()!r} may not climb with '..'", key=key)
            inside_runs = path == runs_root or path.startswith(runs_root + "/")
            if inside_runs and not (path == own or path.startswith(own + "/")):
                raise YamlPathRefused(f"{key} {item.strip()!r} points into another run's workspace", key=key)
    return confined
