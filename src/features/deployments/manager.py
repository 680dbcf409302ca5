"""The deployment manager: starts model servers, probes their health, notices crashes, adopts survivors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx
from sqlalchemy import select

from src.features.auth.service import Principal
from src.features.deployments import service
from src.features.deployments.service import DeploySetup
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
    ) -> None:
        super().__init__(name="deployments", interval=interval)
        self.store = store
        self.run_as = run_as
        self.upstream_secret = upstream_secret
        self.unhealthy_after = unhealthy_after
        self.start_timeout = start_timeout
        self.prober = prober
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
                processes.terminate_group(deployment.pid, command=deployment.command, grace=0)
                service.mark_ended(session, deployment=deployment, status=DeploymentStatus.stopped)

    def tick(self) -> None:
        with self.store.session_scope(read_only=True) as session:
            ids = list(session.scalars(select(Deployment.id).where(Deployment.status.in_(WATCHED))))
        for deployment_id in ids:
            with self.lock:
                self._watch(deployment_id)

    def _watch(self, deployment_id: str) -> None:
        with self.store.session_scope() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is None or deployment.status not in WATCHED:
                return
            if deployment.pid is None:
                try:
                    process = service.launch(
                        deployment, api_key=self._api_key(deployment.id), run_as=self.run_as
                    )
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
                logger.info(
                    "deployment %s started: pid %s on port %s", deployment.id, process.pid, deployment.port
                )
                return
            ended, exit_code = processes.exit_status(
                self._processes.get(deployment.id), pid=deployment.pid, command=deployment.command
            )
            if ended:
                self._processes.pop(deployment.id, None)
                tail = " | ".join(service.log_tail(deployment, lines=5))
                service.mark_ended(
                    session,
                    deployment=deployment,
                    status=DeploymentStatus.failed,
                    exit_code=exit_code,
                    error=f"the server exited (code {exit_code}): {tail}",
                )
                wakeup.queue_changed(session)  # its GPUs are free for a waiting run
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
                processes.terminate_group(deployment.pid, command=deployment.command, grace=0)
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
                pid, command = deployment.pid, deployment.command
            processes.terminate_group(pid, command=command, grace=grace)
            # reaped, so no zombie is left behind and its exit code is kept
            exit_code = processes.reap(self._processes.pop(deployment_id, None))
            with self.store.session_scope() as session:
                deployment = session.get(Deployment, deployment_id)
                if deployment is not None:
                    service.mark_ended(
                        session, deployment=deployment, status=DeploymentStatus.stopped, exit_code=exit_code
                    )
                    wakeup.queue_changed(session)  # its GPUs are free for a waiting run
