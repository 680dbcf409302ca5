"""The docker executor: the wrapped command runs with `docker exec` in the GPU container.

Docker has no API to kill an exec'd process, so the wrapper starts under
`setsid` as a process-group leader, and cancel runs `kill -s SIG -PGID` through
another exec. The low-level exec_create/exec_start API keeps the exec id
(`exec_run(detach=True)` loses it).
"""

from __future__ import annotations

import logging

import docker
from docker.errors import APIError, DockerException, NotFound

from src.features.runs.executors import WRAPPER_NAME, LaunchError, LaunchSpec, wait_for_pid_file
from src.utils.processes import proc_state

logger = logging.getLogger(__name__)


class DockerExecutor:
    name = "docker"

    def __init__(self, *, container: str, user: str | None = None) -> None:
        self.container = container
        self.user = user  # `docker exec --user`; None keeps the container's own user
        self._client: docker.DockerClient | None = None

    def _api(self) -> docker.APIClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=30)
            except DockerException as exc:
                raise LaunchError(f"cannot reach the Docker engine: {exc}") from exc
        return self._client.api

    def _exec(self, cmd: list[str]) -> tuple[int, str]:
        api = self._api()
        exec_id = api.exec_create(self.container, cmd=cmd, stdout=True, stderr=True)["Id"]
        output = api.exec_start(exec_id).decode("utf-8", "replace")
        return api.exec_inspect(exec_id)["ExitCode"], output

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
        api = self._api()
        try:
            state = api.inspect_container(self.container)["State"]
        except NotFound as exc:
            raise LaunchError(f"training container {self.container!r} does not exist") from exc
        except (APIError, DockerException) as exc:
            raise LaunchError(f"cannot inspect training container {self.container!r}: {exc}") from exc
        if not state.get("Running"):
            raise LaunchError(f"training container {self.container!r} is not running ({state.get('Status')})")
        wrapper = f"{spec.exec_workspace}/{WRAPPER_NAME}"
        try:
            exec_id = api.exec_create(
                self.container,
                cmd=["setsid", "sh", wrapper, spec.exec_workspace, spec.exec_workdir, *spec.argv],
                environment=spec.env,
                workdir=spec.exec_workspace,
                user=self.user or "",
            )["Id"]
            api.exec_start(exec_id, detach=True)
        except (APIError, DockerException) as exc:
            raise LaunchError(f"docker exec failed: {exc}") from exc
        pgid = wait_for_pid_file(spec.host_workspace, timeout=15)
        if pgid is None:
            info = api.exec_inspect(exec_id)
            raise LaunchError(
                f"the run wrapper did not start in {self.container!r} "
                f"(exec exit code {info.get('ExitCode')}); "
                "is the training directory mounted at TUNING_TRAINING_CONTAINER_DIR?"
            )
        return pgid, exec_id

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
        try:
            code, output = self._exec(["cat", f"/proc/{pgid}/stat", f"/proc/{pgid}/cmdline"])
        except (APIError, DockerException, LaunchError) as exc:
            # an engine we cannot ask is not proof the run died; the next check decides
            logger.warning("cannot check run process %s in %s: %s", pgid, self.container, exc)
            return True
        if code != 0:
            return False
        stat_line = output.split("\n", 1)[0]
        return proc_state(stat_line) != "Z" and exec_workspace in output

    def signal_group(self, pgid: int, signal_name: str) -> None:
        try:
            self._exec(["kill", "-s", signal_name, f"-{pgid}"])
        except (APIError, DockerException, LaunchError) as exc:
            logger.warning("could not signal process group %s in %s: %s", pgid, self.container, exc)

    def describe_gone(self, pgid: int) -> str | None:
        return None  # a process group leaves no record beyond its exit code
