"""The local executor: the wrapped command as a child process group on this host."""

from __future__ import annotations

import signal
from pathlib import Path

from src.features.runs.executors import WRAPPER_NAME, LaunchError, LaunchSpec, wait_for_pid_file
from src.utils import processes
from src.utils.child_user import ChildUser, unreachable_paths


class LocalExecutor:
    name = "local"

    def __init__(self, *, run_as: ChildUser | None = None) -> None:
        self.run_as = run_as

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
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
        try:
            # the workspace is the one place an unprivileged child may write; it is its home too,
            # so caches a trainer keeps under ~ stay with the run
            process = processes.start(
                [
                    "sh",
                    str(spec.host_workspace / WRAPPER_NAME),
                    spec.exec_workspace,
                    spec.exec_workdir,
                    *spec.argv,
                ],
                env=spec.env,
                cwd=spec.host_workspace,
                run_as=self.run_as,
                home=spec.host_workspace,
            )
        except (OSError, ValueError) as exc:
            raise LaunchError(f"could not start the wrapper: {exc}") from exc
        # the wrapper writes the exit code to disk; reaping only keeps it from lingering as a zombie
        processes.reap_when_done(process, name=f"reap-{spec.run_id}")
        if wait_for_pid_file(spec.host_workspace, timeout=10) is None:
            process.kill()
            raise LaunchError("the run wrapper did not start")
        return process.pid, None

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
        # the wrapper's command line names the workspace; a recycled pid belongs to some other program
        return processes.is_alive(pgid, argument=exec_workspace)

    def signal_group(self, pgid: int, signal_name: str) -> None:
        processes.signal_group(pgid, signal.Signals[f"SIG{signal_name}"])

    def describe_gone(self, pgid: int) -> str | None:
        return None  # a process group leaves no record beyond its exit code
