"""Model servers as Slurm jobs: a long-running job named `dep-<id>` on a node with the GPUs it asked for.

The job starts the deployment's command (the same argv a local server gets, listening on
the node's interfaces) and writes its output to the deployment's log on the filesystem
shared with the nodes. Slurm chooses the node and the GPUs; once the job runs, the node,
its address and the GPU indexes are recorded, and the service probes and proxies to
`http://<node address>:<port>`. Stopping is `scancel`. A restarted service finds the job
again by its name.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from src.features.deployments import service
from src.features.gpus import service as gpus_service
from src.storage.tables import Deployment
from src.storage.types import utcnow
from src.utils import processes
from src.utils.child_user import ChildUser
from src.utils.slurm import Job, Slurm, SlurmError, Submission

logger = logging.getLogger(__name__)

# sbatch runs a script file; this one starts the server's argv as it is, with no shell between
LAUNCHER = '#!/bin/sh\nexec "$@"\n'


@dataclass(frozen=True)
class Followed:
    """What one look at a server's job found: still waiting, running (and probed), or ended."""

    waiting: bool = False
    ended: bool = False
    why: str | None = None  # the wait's reason, or how it ended
    exit_code: int | None = None


class SlurmServers:
    """Submit, follow and cancel the jobs that run model servers."""

    def __init__(
        self,
        slurm: Slurm,
        *,
        run_as: ChildUser | None,
        partition: str | None = None,
        account: str | None = None,
    ) -> None:
        self.slurm = slurm
        self.run_as = run_as
        self.partition = partition
        self.account = account

    def submit(self, deployment: Deployment, *, api_key: str) -> str:
        """`sbatch` the server as the run user, once: the job id, the new one or one already queued.

        Replicas of this service may watch the same deployment; each submits under an
        `flock` in the deployment's directory (on the shared filesystem) and first looks
        for the job by name in a fresh `squeue`, which lists a job as soon as `sbatch`
        returns, so a second replica finds the first one's job instead of submitting again.
        """
        home = Path(deployment.log_file).parent
        home.mkdir(parents=True, exist_ok=True)
        lock = os.open(home / "submit.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.slurm.forget_snapshot()
            queued = self.job_of(deployment)
            return queued.job_id if queued is not None else self._submit(deployment, api_key=api_key)
        finally:
            os.close(lock)

    def _submit(self, deployment: Deployment, *, api_key: str) -> str:
        """The key travels in the job's environment, not in argv (which every user can read)."""
        log = Path(deployment.log_file)
        home = log.parent
        launcher = home / "serve.sh"
        launcher.write_text(LAUNCHER)
        launcher.chmod(0o755)
        if self.run_as is not None:
            self.run_as.hand_over(home)
        env = processes.service_environment()
        env.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets it from the GPUs it gives the job
        env[service.UPSTREAM_KEY_ENV] = api_key
        env["HOME"] = str(home)  # caches a model server keeps under ~ stay with the deployment
        if self.run_as is not None:
            env.update({"USER": self.run_as.name, "LOGNAME": self.run_as.name})
        job = Submission(
            name=deployment.id,  # `dep-<id>`: how a restarted service finds the job again
            argv=[str(launcher), *deployment.command],
            workdir=home,
            output=log,
            env=env,
            gpus_per_node=deployment.gpu_count or 0,
            partition=self.partition,
            account=self.account,
        )
        return self.slurm.submit(job)

    def job_of(self, deployment: Deployment) -> Job | None:
        """The deployment's job in Slurm's queue (by name, so one submitted just before a crash is found)."""
        return self.slurm.jobs().get(deployment.id)

    def follow(self, session: Session, deployment: Deployment) -> Followed:
        """Bring the record up to date with the job: its wait, its placement, or its end."""
        job = self.job_of(deployment)
        if job is not None and deployment.job_id is None:
            deployment.job_id = job.job_id  # submitted by a service that died before recording it
        if job is None or job.is_final or job.is_requeued:
            return self._ended(deployment, job)
        if job.state != "RUNNING":
            return Followed(waiting=True, why=f"waiting in Slurm: {job.reason or job.state}")
        if deployment.node is None:
            placement = self.slurm.placement(job.job_id)
            if not placement:
                return Followed(waiting=True, why="placed by Slurm; reading where")
            node = placement[0][0]
            deployment.node = node
            deployment.gpu_ids = [f"{name}:{index}" for name, indexes in placement for index in indexes]
            deployment.base_url = f"http://{self.slurm.node_address(node)}:{deployment.port}"
            deployment.started_at = utcnow()  # the start timeout counts from here, not from the queue
            gpus_service.record_placement(
                session, gpu_ids=deployment.gpu_ids, holder_type="deployment", holder_id=deployment.id
            )
            logger.info("deployment %s runs as Slurm job %s on %s", deployment.id, job.job_id, node)
        return Followed()

    def _ended(self, deployment: Deployment, job: Job | None) -> Followed:
        if job is not None and job.is_requeued:
            self.cancel(job.job_id)
            why = f"Slurm requeued job {job.job_id} ({job.reason}); it was cancelled"
            return Followed(ended=True, why=why)
        job_id = deployment.job_id
        accounting = self.slurm.accounting(job_id) if job_id else None
        state = accounting.state if accounting else (job.state if job else "gone")
        if state == "NODE_FAIL":
            return Followed(ended=True, why=f"the node {deployment.node or ''} failed (Slurm job {job_id})")
        exit_code = accounting.exit_code if accounting else None
        return Followed(ended=True, why=f"Slurm job {job_id} ended as {state}", exit_code=exit_code)

    def cancel(self, job_id: str | None) -> None:
        """`scancel`: Slurm sends TERM, then KILL after its KillWait. A job already gone is no error."""
        if job_id is None:
            return
        try:
            self.slurm.cancel(job_id)
        except SlurmError as exc:
            logger.warning("scancel %s: %s", job_id, exc)


__all__ = ["Followed", "SlurmError", "SlurmServers"]
