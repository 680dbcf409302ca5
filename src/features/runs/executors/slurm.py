"""The Slurm executor: a run is a batch job, named `run-<id>`, that starts the same wrapper.

The workspace is on a filesystem shared with the nodes, so the wrapper writes `pid`,
`output.log` and `exit_code` where the service reads them, as for a local run. What
only Slurm knows comes from its tools (`src.utils.slurm`): whether the job still runs,
where it was placed, and how it ended when it left no exit code. The run's "process
group id" is the Slurm job id, so the monitor follows and stops it like any other run.
"""

from __future__ import annotations

from pathlib import Path

from src.features.runs.executors import WRAPPER_NAME, ExecutorUnavailable, LaunchError, LaunchSpec
from src.utils.child_user import ChildUser, unreachable_paths
from src.utils.slurm import Job, Slurm, SlurmError, Submission

# a multi-node run's command starts once per node, with Slurm's rank environment
# (SLURM_PROCID, SLURM_NODEID, SLURM_NTASKS; the wrapper adds MASTER_ADDR)
SRUN_PREFIX = ["srun", "--kill-on-bad-exit=1", "--ntasks-per-node=1"]


class SlurmExecutor:
    name = "slurm"

    def __init__(
        self,
        slurm: Slurm,
        *,
        run_as: ChildUser | None,
        partition: str | None = None,
        account: str | None = None,
        time_limit: str | None = None,
    ) -> None:
        self.slurm = slurm
        self.run_as = run_as
        self.partition = partition
        self.account = account
        self.time_limit = time_limit

    def submit(self, spec: LaunchSpec, *, gpus_per_node: int, nodes: int) -> str:
        """`sbatch` the run's wrapper as the run user; returns the job id."""
        if self.run_as is not None:
            self.run_as.hand_over(spec.host_workspace)
            unreachable = unreachable_paths(self.run_as, [spec.host_workspace, Path(spec.exec_workdir)])
            if unreachable:
                raise LaunchError(
                    f"runs start as user {self.run_as.name!r}, which cannot reach "
                    f"{', '.join(str(p) for p in unreachable)} on this host (nor, then, on the nodes)"
                )
        argv = [*SRUN_PREFIX, *spec.argv] if nodes > 1 else list(spec.argv)
        env = {name: value for name, value in spec.env.items() if name != "CUDA_VISIBLE_DEVICES"}
        env["HOME"] = spec.exec_workspace  # caches a trainer keeps under ~ stay with the run
        if self.run_as is not None:
            env.update({"USER": self.run_as.name, "LOGNAME": self.run_as.name})
        job = Submission(
            name=spec.run_id,  # `run-<id>`: how a restarted service finds the job again
            argv=[str(spec.host_workspace / WRAPPER_NAME), spec.exec_workspace, spec.exec_workdir, *argv],
            workdir=spec.host_workspace,
            output=spec.host_workspace / "slurm.out",
            env=env,
            gpus_per_node=gpus_per_node,
            nodes=nodes,
            partition=self.partition,
            account=self.account,
            time_limit=self.time_limit,
        )
        try:
            return self.slurm.submit(job)
        except SlurmError as exc:
            raise LaunchError(f"Slurm refused the job: {exc}") from exc

    def launch(self, spec: LaunchSpec) -> tuple[int, str | None]:
        raise LaunchError("Slurm runs are submitted by the Slurm queue, not launched by the scheduler")

    def is_alive(self, pgid: int, *, exec_workspace: str) -> bool:
        """True while Slurm runs (or finishes) the job; ExecutorUnavailable when Slurm cannot be asked."""
        job = self._job(pgid)
        return job is not None and not job.is_final and not job.is_requeued

    def signal_group(self, pgid: int, signal_name: str) -> None:
        """TERM: `scancel` (Slurm sends TERM to each process, then KILL after its KillWait); KILL: now."""
        self.slurm.cancel(str(pgid), signal_name="KILL" if signal_name == "KILL" else None)

    def describe_gone(self, pgid: int) -> str | None:
        """Why a job that left no exit code ended, from Slurm.

        A job Slurm requeued is left to the Slurm queue's sweep, which cancels the jobs of
        runs that have ended.
        """
        job = self._job(pgid)
        if job is not None and job.is_requeued:
            return f"Slurm requeued job {pgid} ({job.reason}); runs are never requeued, so it is cancelled"
        try:
            accounting = self.slurm.accounting(str(pgid))
        except SlurmError as exc:
            raise ExecutorUnavailable(str(exc)) from exc
        state = accounting.state if accounting else (job.state if job else "unknown")
        if state == "NODE_FAIL":
            where = f" on {job.nodes}" if job and job.nodes else ""
            return f"the node{where} failed (Slurm job {pgid}: NODE_FAIL)"
        code = f", exit code {accounting.exit_code}:{accounting.signal}" if accounting else ""
        return f"Slurm job {pgid} ended as {state}{code} and its wrapper wrote no exit code"

    def _job(self, pgid: int) -> Job | None:
        job_id = str(pgid)
        try:
            jobs = self.slurm.jobs()
        except SlurmError as exc:
            raise ExecutorUnavailable(str(exc)) from exc
        return next((job for job in jobs.values() if job.job_id == job_id), None)
