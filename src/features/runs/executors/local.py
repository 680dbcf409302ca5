"""The local executor: the wrapped command as a child process group on this host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from src.features.runs.executors import WRAPPER_NAME, LaunchError, LaunchSpec, proc_state, wait_for_pid_file
from src.utils.child_user import ChildUser, unreachable_paths


class LocalExecutor:
    name = "local"

    def __init__(self, *, run_as: ChildUser | None = None) -> None:
        self.run_as = run_as

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
        wrapper = spec.host_workspace / WRAPPER_NAME
        env = dict(spec.env)
        user_kwargs = {}
        if self.run_as is not None:
            needed = [spec.host_workspace, Path(spec.exec_workdir)]
            needed += [Path(arg) for arg in spec.argv[:1] if arg.startswith("/")]
            unreachable = unreachable_paths(self.run_as, needed)
            if unreachable:
                raise LaunchError(
                    f"runs start as user {self.run_as.name!r}, which cannot reach "
                    f"{', '.join(str(p) for p in unreachable)}: make it reachable (a checkout or Python "
                    "under /root is not), or set TUNING_RUN_AS_USER= to run as the service's user"
                )
            # the workspace is the one place the unprivileged child may write; its home too,
            # so caches a trainer keeps under ~ stay with the run
            self.run_as.hand_over(spec.host_workspace)
            env.update({"HOME": spec.exec_workspace, "USER": self.run_as.name, "LOGNAME": self.run_as.name})
            user_kwargs = self.run_as.popen_kwargs()
        try:
            process = subprocess.Popen(
                ["sh", str(wrapper), spec.exec_workspace, spec.exec_workdir, *spec.argv],
                cwd=spec.host_workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                **user_kwargs,
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
