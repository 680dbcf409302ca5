"""The local executor: the wrapped command as a child process group on this host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from src.features.runs.executors import WRAPPER_NAME, LaunchError, LaunchSpec, proc_state, wait_for_pid_file


class LocalExecutor:
    name = "local"

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
        # reap the wrapper the moment it exits, so it never lingers as a zombie
        threading.Thread(target=process.wait, name=f"reap-{spec.run_id}", daemon=True).start()
        if wait_for_pid_file(spec.host_workspace, timeout=10) is None:
            process.kill()
            raise LaunchError("the run wrapper did not start")
        return process.pid, None

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
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
