"""Where a run lives: its workspace under the training directory, seen from the host and the executor."""

from __future__ import annotations

import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

from src.features.models.service import ModelSources
from src.features.runs.executors import WRAPPER_NAME, WRAPPER_SOURCE
from src.storage.tables import Run
from src.utils.child_env import DEFAULT_ENV_ALLOWLIST
from src.utils.sealing import Sealer
from src.utils.trainer import BUNDLED_TRAINER_COMMAND

# every run's workspace is `runs/<run id>` under the training directory; TrainingLayout
# is the one place that builds the path, for the host and for the executor
RUNS_DIR = "runs"
# With no TUNING_TRAINING_COMMAND: a local run trains with the bundled trainer and this
# service's Python; a run in the training container runs the seed's script there. A Slurm
# job sees the host's paths (the training directory is on a filesystem shared with the nodes).
COMMAND_BY_EXECUTOR = {
    "local": list(BUNDLED_TRAINER_COMMAND),
    "slurm": list(BUNDLED_TRAINER_COMMAND),
    "docker": ["bash", "run_train_full_sft.sh", "{training_yaml}"],
}
WORKDIR_BY_EXECUTOR = {"local": ".", "slurm": ".", "docker": "KTIP_Release_2.1.0/train/llm"}
# executors whose processes see the training directory at the host's own path
HOST_PATH_EXECUTORS = frozenset({"local", "slurm"})


@dataclass(frozen=True)
class TrainingLayout:
    """The training settings a run needs, as plain values (services never read app settings)."""

    training_dir: Path
    container_dir: str
    workdir: str | None  # None: the executor's default (WORKDIR_BY_EXECUTOR)
    command: list[str] | None  # None: the executor's default (COMMAND_BY_EXECUTOR)
    default_executor: str
    gpu_ids: list[str]
    default_gpus: int
    env_allowlist: tuple[str, ...] = DEFAULT_ENV_ALLOWLIST
    env_sealer: Sealer | None = None  # seals credential values of a run's env at rest
    models: ModelSources | None = None  # base models a YAML may name (local runs get their directory)
    max_nodes: int = 1  # most nodes a run may ask for (executor `slurm`)
    slurm: bool = False  # a Slurm cluster is configured (executor `slurm` is available)
    slurm_default_gpus: int = 1  # GPUs per node of a Slurm run that does not say

    def command_for(self, executor: str) -> list[str]:
        return self.command or COMMAND_BY_EXECUTOR[executor]

    def workdir_for(self, executor: str) -> str:
        return self.workdir or WORKDIR_BY_EXECUTOR[executor]

    @property
    def runs_dir(self) -> Path:
        """The host directory holding every owner's run workspaces."""
        return self.training_dir.resolve() / RUNS_DIR

    def host_workspace(self, run_id: str) -> Path:
        """A new run's workspace on the host (a stored run's is `workspace_of`)."""
        return self.runs_dir / run_id

    def workspace_of(self, run: Run) -> Path:
        """A run's workspace on the host: the one it was created with."""
        return Path(run.workspace) if run.workspace else self.host_workspace(run.id)

    def exec_runs_root(self, executor: str) -> str:
        """The workspaces directory as a run's process sees it."""
        return self.exec_path(executor, RUNS_DIR)

    def exec_workspace(self, executor: str, run_id: str) -> str:
        """A run's workspace as its process sees it."""
        return self.exec_path(executor, f"{RUNS_DIR}/{run_id}")

    def exec_root(self, executor: str) -> str:
        """The training directory as the run's process sees it."""
        return str(self.training_dir.resolve()) if executor in HOST_PATH_EXECUTORS else self.container_dir

    def exec_path(self, executor: str, relative: str) -> str:
        return posixpath.join(self.exec_root(executor), relative)

    def exec_workdir(self, executor: str) -> str:
        workdir = self.workdir_for(executor)
        return workdir if posixpath.isabs(workdir) else self.exec_path(executor, workdir)

    def host_path_of(self, executor: str, exec_path: str) -> Path | None:
        """The host path of a path the process sees, when it lies in the shared training directory."""
        root = self.exec_root(executor).rstrip("/")
        if exec_path != root and not exec_path.startswith(root + "/"):
            return None
        return self.training_dir.resolve() / exec_path[len(root) :].lstrip("/")


def create_workspace(path: Path) -> None:
    """A fresh workspace holding the wrapper script."""
    path.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(WRAPPER_SOURCE, path / WRAPPER_NAME)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when source and target share a filesystem, else copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
