"""The local executor: the wrapped command as a child process group on this host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from src.features.runs.executors import WRAPPER_NAME, LaunchError, LaunchSpec, proc_state, wait_for_pid_file


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
        wrapper = spec.host_workspace / WRAPPER_NAME
        try:
            process = subprocess.Popen(
                ["sh", str(wrapper), spec.exec_workspace, spec.exec_workdir, *spec.argv],
                cwd=spec.host_workspace,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"could not start the wrapper: {exc}") from exc
        self._children[process.pid] = process
        if wait_for_pid_file(spec.host_workspace, timeout=10) is None:
            process.kill()
            raise LaunchError("the run wrapper did not start")
        return process.pid, None

    def reap(self) -> None:
        """Collect exited children so they do not linger as zombies."""
        for pid, process in list(self._children.items()):
            if process.poll() is not None:
                del self._children[pid]

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
        self.reap()
        proc = Path(f"/proc/{pgid}")
        try:
            state = proc_state((proc / "stat").read_text())
            cmdline = (proc / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return False
        # a recycled pid belongs to some other program: it is not our wrapper
        return state != "Z" and exec_workspace.encode() in cmdline

    def signal_group(self, pgid: int, signal_name: str) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, getattr(signal, f"SIG{signal_name}"))
