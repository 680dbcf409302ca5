"""Executors start a run's wrapped command and signal its process group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

WRAPPER_SOURCE = Path(__file__).with_name("wrapper.sh")
WRAPPER_NAME = ".tuning-wrapper.sh"


class LaunchError(RuntimeError):
    """The command could not be started; the message says why."""


class ExecutorUnavailable(RuntimeError):
    """The executor cannot say how a run is doing now (its cluster does not answer); ask again later."""


@dataclass(frozen=True)
class LaunchSpec:
    run_id: str
    argv: list[str]
    env: dict[str, str]
    host_workspace: Path
    exec_workspace: str  # the workspace as the process sees it
    exec_workdir: str


class RunExecutor(Protocol):
    name: str

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
        """Start the command; returns (process group id, exec id or None)."""
        ...

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
        """True while the run's wrapper is still running (zombies count as gone)."""
        ...

    def signal_group(self, pgid: int, signal_name: str) -> None:
        """Send TERM or KILL to the whole process group."""
        ...

    def describe_gone(self, pgid: int) -> str | None:
        """Why a run that is gone without an exit code ended, when the executor knows (Slurm does)."""
        ...


def wait_for_pid_file(workspace: Path, *, timeout: float) -> int | None:
    """The process group id the wrapper wrote, once it appears."""
    import time

    deadline = time.monotonic() + timeout
    pid_file = workspace / "pid"
    while time.monotonic() < deadline:
        if pid_file.exists():
            text = pid_file.read_text().strip()
            if text.isdigit():
                return int(text)
        time.sleep(0.02)
    return None
