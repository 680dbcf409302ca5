"""The deployment manager: starts model servers, probes their health, notices crashes, adopts survivors."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.deployments import service
from src.features.deployments.service import DeploySetup
from src.features.deployments.slurm_servers import SlurmError, SlurmServers
from src.features.runs import wakeup
from src.models.deployments import DeploymentStatus
from src.storage import Store
from src.storage.tables import Deployment
from src.storage.types import utcnow
from src.utils import processes
from src.utils.child_user import ChildUser
from src.utils.periodic import PeriodicWorker

logger = logging.getLogger(__name__)
WATCHED = [DeploymentStatus.starting.value, DeploymentStatus.running.value, DeploymentStatus.unhealthy.value]


Prober = Callable[[Deployment, str], str | None]  # (deployment, upstream key) -> problem or None


def probe(deployment: Deployment, api_key: str, *, timeout: float = 5.0) -> str | None:
    """None when the server can serve: health 200, its model listed, a one-token completion works.

    vLLM's /health keeps answering 200 after its engine dies, so the completion is part of the probe.
    /health needs no key; the /v1 calls carry the deployment's upstream key.
    """
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with httpx.Client(base_url=deployment.base_url, timeout=timeout, headers=headers) as client:
            if client.get(deployment.health_path).status_code != 200:
                return f"{deployment.health_path} did not answer 200"
            models = client.get("/v1/models").json().get("data", [])
            if deployment.served_model_name not in [m.get("id") for m in models]:
                return f"/v1/models does not list {deployment.served_model_name}"
            answer = client.post(
                "/v1/completions",
                json={"model": deployment.served_model_name, "prompt": "Hi", "max_tokens": 1},
            )
            if answer.status_code != 200:
                return f"a one-token completion answered {answer.status_code}"
    except (httpx.HTTPError, ValueError) as exc:
        return f"not reachable: {exc.__class__.__name__}"
    return None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An `flock` on `path` (created if need be) for the block; the kernel drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor drops the lock


class DeploymentManager(PeriodicWorker):
    """Each pass starts recorded deployments, notices exits and probes health; servers outlive it."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float,
        unhealthy_after: int,
        start_timeout: float,
        upstream_secret: str,
        prober: Prober = probe,
        run_as: ChildUser | None = None,
        slurm: SlurmServers | None = None,
    ) -> None:
        super().__init__(name="deployments", interval=interval)
        self.store = store
        self.run_as = run_as
        self.upstream_secret = upstream_secret
        self.unhealthy_after = unhealthy_after
        self.start_timeout = start_timeout
        self.prober = prober
        self.slurm = slurm
        self._processes: dict[str, processes.Child] = {}
        self.lock = threading.Lock()

    def start(self) -> None:
        """Adopt the servers a previous start left, then watch; `stop` leaves them running."""
        self.adopt()
        super().start()

    def adopt(self) -> None:
        """On start: keep live servers whose pid and command line match; the rest are stopped and released."""
        with self.store.session_scope() as session:
            for deployment in session.scalars(select(Deployment).where(Deployment.status.in_(WATCHED))):
                if deployment.executor == "slurm":
                    continue  # its job is found by name and followed on the first pass
                if deployment.pid is None or processes.is_alive(deployment.pid, command=deployment.command):
                    logger.info("deployment %s re-adopted (pid %s)", deployment.id, deployment.pid)
                    continue
                service.mark_ended(
                    session,
                    deployment=deployment,
                    status=DeploymentStatus.stopped,
                    error="the server was gone when the service started",
                )
            stale = session.scalars(
                select(Deployment).where(Deployment.status == DeploymentStatus.stopping.value)
            )
            for deployment in stale:
                self._terminate(deployment, grace=0)
                service.mark_ended(session, deployment=deployment, status=DeploymentStatus.stopped)

    def tick(self) -> None:
        with self.store.session_scope(read_only=True) as session:
            ids = list(session.scalars(select(Deployment.id).where(Deployment.status.in_(WATCHED))))
        for deployment_id in ids:
            with self.lock:
                self._watch(deployment_id)

    def _watch(self, deployment_id: str) -> None:
        launch_lock: Path | None = None
        with self.store.session_scope() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is None or deployment.status not in WATCHED:
                return
            if deployment.executor == "slurm":
                if not self._follow_job(session, deployment):
                    return
            elif deployment.pid is None:
                launch_lock = Path(deployment.log_file).parent / "launch.lock"
            else:
                ended, exit_code = processes.exit_status(
                    self._processes.get(deployment.id), pid=deployment.pid, command=deployment.command
                )
                if ended:
                    self._processes.pop(deployment.id, None)
                    self._failed(session, deployment, f"the server exited (code {exit_code})", exit_code)
                    return
        if launch_lock is not None:
            self._launch_once(deployment_id, launch_lock)
            return
        problem = self.prober(deployment, self._api_key(deployment_id))
        with self.store.session_scope() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is None or deployment.status not in WATCHED:
                return
            if problem is None:
                deployment.status = DeploymentStatus.running.value
                deployment.health_ok = True
                deployment.failed_polls = 0
                deployment.error = None
                return
            deployment.health_ok = False
            deployment.failed_polls += 1
            starting = deployment.status == DeploymentStatus.starting.value
            waited = (utcnow() - (deployment.started_at or utcnow())).total_seconds()
            if starting and waited > self.start_timeout:
                self._terminate(deployment, grace=0)
                service.mark_ended(
                    session,
                    deployment=deployment,
                    status=DeploymentStatus.failed,
                    exit_code=processes.reap(self._processes.pop(deployment_id, None)),
                    error=f"not serving after {self.start_timeout:.0f} s: {problem}",
                )
            elif not starting and deployment.failed_polls >= self.unhealthy_after:
                deployment.status = DeploymentStatus.unhealthy.value
                deployment.error = problem

    def _launch_once(self, deployment_id: str, lock_path: Path) -> None:
        """Start a local server that no replica of this service has started yet.

        Replicas on one host watch the same deployments, and each sees a new one without a
        server at the same moment. Whoever holds the launch lock (an `flock` beside the logs)
        reads the deployment again, starts its server and commits the pid before letting go,
        so the next one to take the lock finds the pid and leaves it.
        """
        with _exclusive(lock_path), self.store.session_scope() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is not None and deployment.status in WATCHED and deployment.pid is None:
                self._launch(session, deployment)

    def _launch(self, session: Session, deployment: Deployment) -> None:
        """Start a local server; a start that fails fails the deployment."""
        try:
            process = service.launch(deployment, api_key=self._api_key(deployment.id), run_as=self.run_as)
        except (OSError, ValueError) as exc:  # no such executable, a NUL in an argument
            service.mark_ended(
                session,
                deployment=deployment,
                status=DeploymentStatus.failed,
                error=f"the server could not be started: {exc.__class__.__name__}",
            )
            return
        self._processes[deployment.id] = process
        deployment.pid = process.pid
        deployment.started_at = utcnow()
        logger.info("deployment %s started: pid %s on port %s", deployment.id, process.pid, deployment.port)

    def _follow_job(self, session: Session, deployment: Deployment) -> bool:
        """Submit a Slurm server's job, or bring its record up to date; True when it runs and can be probed.

        While Slurm cannot be asked, the deployment is left as it is (one warning per pass).
        """
        if self.slurm is None:
            self._failed(session, deployment, "this service has no Slurm cluster (TUNING_DEPLOY_EXECUTOR)")
            return False
        try:
            if deployment.job_id is None and self.slurm.job_of(deployment) is None:
                deployment.job_id = self.slurm.submit(deployment, api_key=self._api_key(deployment.id))
                logger.info("deployment %s submitted as Slurm job %s", deployment.id, deployment.job_id)
                return False
            followed = self.slurm.follow(session, deployment)
        except OSError as exc:  # the shared directory cannot be written
            self._failed(session, deployment, f"the server could not be submitted: {exc}")
            return False
        except SlurmError as exc:
            if deployment.job_id is None:
                self._failed(session, deployment, f"Slurm refused the server: {exc}")
            else:
                logger.warning("deployment %s: Slurm cannot be asked: %s", deployment.id, exc)
            return False
        if followed.ended:
            self._failed(session, deployment, followed.why or "its Slurm job ended", followed.exit_code)
            return False
        if followed.waiting:
            deployment.error = followed.why
            return False
        return True

    def _failed(
        self, session: Session, deployment: Deployment, why: str, exit_code: int | None = None
    ) -> None:
        """The server ended on its own: failed, with the last lines of its log; its GPUs go back."""
        tail = " | ".join(service.log_tail(deployment, lines=5))
        service.mark_ended(
            session,
            deployment=deployment,
            status=DeploymentStatus.failed,
            exit_code=exit_code,
            error=f"{why}: {tail}" if tail else why,
        )
        wakeup.queue_changed(session)  # its GPUs are free for a waiting run

    def _terminate(self, deployment: Deployment, *, grace: float) -> None:
        """TERM the server (KILL after `grace`); a Slurm server's job is cancelled."""
        if deployment.executor == "slurm":
            if self.slurm is not None:
                self.slurm.cancel(deployment.job_id)
            return
        processes.terminate_group(deployment.pid, command=deployment.command, grace=grace)

    def _api_key(self, deployment_id: str) -> str:
        return service.upstream_key(self.upstream_secret, deployment_id=deployment_id)

    def restart_deployment(
        self, deployment_id: str, *, principal: Principal, setup: DeploySetup, grace: float
    ) -> Deployment:
        """Stop the server, then place and record a new deployment with the same model and settings.

        Each step is its own short transaction: the stop writes in its own session, so no caller may
        hold a write transaction around it (on SQLite, BEGIN IMMEDIATE would make it wait on itself).
        """
        with self.store.session_scope(read_only=True) as session:
            old = service.get(session, deployment_id=deployment_id, principal=principal)
        self.stop_deployment(old.id, grace=grace)
        with self.store.session_scope() as session:
            return service.create(
                session, principal=principal, data=service.restart_request(old), setup=setup
            )

    def stop_deployment(self, deployment_id: str, *, grace: float) -> None:
        """TERM (then KILL after `grace`, or KILL at once) and release GPUs and port."""
        with self.lock:
            with self.store.session_scope() as session:
                deployment = session.get(Deployment, deployment_id)
                if deployment is None or not service.is_active(deployment):
                    return
                deployment.status = DeploymentStatus.stopping.value
                session.flush()
                session.expunge(deployment)
            self._terminate(deployment, grace=grace)
            # reaped, so no zombie is left behind and its exit code is kept
            exit_code = processes.reap(self._processes.pop(deployment_id, None))
            with self.store.session_scope() as session:
                deployment = session.get(Deployment, deployment_id)
                if deployment is not None:
                    service.mark_ended(
                        session, deployment=deployment, status=DeploymentStatus.stopped, exit_code=exit_code
                    )
                    wakeup.queue_changed(session)  # its GPUs are free for a waiting run
