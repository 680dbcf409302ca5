"""The Slurm queue: hands pending Slurm runs to Slurm and follows them until Slurm starts them.

Slurm owns placement: a Slurm run is not claimed by the scheduler (no slot, no GPU of
this host). Each engine pass:

1. submits pending runs that have no job yet. One engine wins the right to submit
   (`state.mark_submitting`); a run marked by an engine that died is looked up by its
   job name (`run-<id>`) and adopted, or submitted again;
2. follows submitted runs: while Slurm holds a job, its reason and place in Slurm's queue
   are the run's; once Slurm starts it, the run is running on the node and GPU indexes
   Slurm reports (`state.placed`), and the GPU ledger records them; from then on the
   monitor follows it as any run, through `SlurmExecutor`;
3. cancels jobs whose run has ended or is gone (a pending run cancelled here, a run the
   monitor gave up), so nothing of a finished run is left on the cluster.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from src.features.gpus import service as gpus_service
from src.features.runs import state
from src.features.runs.executors import LaunchError
from src.features.runs.executors.slurm import SlurmExecutor
from src.features.runs.scheduler import launch_spec
from src.features.runs.workspace import TrainingLayout
from src.models.runs import FailureCause, RunStatus
from src.storage import Store
from src.storage.tables import Run
from src.storage.types import utcnow
from src.utils.sealing import SealBroken
from src.utils.slurm import Job, SlurmError

logger = logging.getLogger(__name__)

# a run marked as being submitted this long ago by an engine that never recorded a job
SUBMIT_WINDOW = timedelta(seconds=60)


class SlurmQueue:
    def __init__(
        self, store: Store, *, layout: TrainingLayout, executor: SlurmExecutor, base_env: dict[str, str]
    ) -> None:
        self.store = store
        self.layout = layout
        self.executor = executor
        self.slurm = executor.slurm
        self.base_env = base_env

    def poll(self) -> None:
        """One pass: submit, follow, sweep. Nothing changes while Slurm cannot be asked."""
        try:
            jobs = self.slurm.jobs()
        except SlurmError as exc:
            logger.warning("Slurm is not answering; runs on it wait: %s", exc)
            self._note_unavailable(str(exc))
            return
        with self.store.session_scope(read_only=True) as session:
            waiting = list(
                session.execute(
                    select(Run.id, Run.exec_id, Run.last_activity_at).where(
                        Run.status == RunStatus.pending.value, Run.executor == "slurm"
                    )
                )
            )
        for run_id, job_id, marked_at in waiting:
            try:
                if job_id is None:
                    self._submit(run_id, jobs)
                elif job_id == state.SUBMITTING:
                    self._recover_submission(run_id, marked_at, jobs)
                else:
                    self._follow(run_id, job_id, jobs.get(run_id))
            except SlurmError as exc:
                logger.warning("run %s: Slurm did not answer: %s", run_id, exc)
        self._sweep(jobs)

    def _submit(self, run_id: str, jobs: dict[str, Job]) -> None:
        with self.store.session_scope() as session:
            if not state.mark_submitting(session, run_id=run_id):
                return  # another engine submits it, or it was cancelled
            run = session.get(Run, run_id)
            assert run is not None
            gpus, nodes = run.gpus_requested, run.nodes
            try:
                spec = launch_spec(run, layout=self.layout, base_env=self.base_env)
            except SealBroken:
                spec = None
        known = jobs.get(run_id)
        try:
            if known is not None and not known.is_final:
                job_id = known.job_id  # submitted before, by an engine that died before recording it
            elif spec is None:
                raise LaunchError("a sealed env value does not open: was TUNING_SECRETS_KEY changed?")
            else:
                job_id = self.executor.submit(spec, gpus_per_node=gpus, nodes=nodes)
        except LaunchError as exc:
            self._refused(run_id, str(exc))
            return
        with self.store.session_scope() as session:
            state.submitted(session, run_id=run_id, job_id=job_id)
        logger.info("run %s submitted to Slurm as job %s", run_id, job_id)

    def _refused(self, run_id: str, message: str) -> None:
        """Slurm answers but refused the job (a partition, GPU count or account it cannot give)."""
        logger.warning("run %s could not be submitted: %s", run_id, message)
        outcome = state.Outcome(RunStatus.failed, FailureCause.launch_error, message)
        with self.store.session_scope() as session:
            state.submitted(session, run_id=run_id, job_id=None)
            state.fail_pending(session, run_id=run_id, outcome=outcome)

    def _recover_submission(self, run_id: str, marked_at: object, jobs: dict[str, Job]) -> None:
        if marked_at is not None and utcnow() - marked_at < SUBMIT_WINDOW:  # type: ignore[operator]
            return  # its engine is submitting it now
        known = jobs.get(run_id)
        with self.store.session_scope() as session:
            state.submitted(session, run_id=run_id, job_id=known.job_id if known else None)
        what = "adopted its job" if known else "submitting it again"
        logger.warning("run %s: its engine died while submitting it; %s", run_id, what)

    def _follow(self, run_id: str, job_id: str, job: Job | None) -> None:
        if job is not None and job.job_id != job_id:
            job = None  # an older job of the same name; ours left the queue
        if job is not None and job.state == "PENDING" and not job.is_requeued:
            reason = "waiting in Slurm" + (f": {job.reason}" if job.reason and job.reason != "None" else "")
            position = self.slurm.queue_position(job)
            with self.store.session_scope() as session:
                run = state.lock_unfinished(session, run_id=run_id)
                if run is not None and run.status == RunStatus.pending.value:
                    if run.pending_reason != reason:
                        run.pending_reason = reason
                    if run.executor_queue_position != position:
                        run.executor_queue_position = position
            return
        # Slurm started it (or it already ended, or Slurm requeued it): from here the monitor follows
        # it, and a job that left no exit code ends the run with Slurm's account of why
        gpu_ids: list[str] = []
        if job is not None and job.state in ("RUNNING", "COMPLETING"):
            placement = self.slurm.placement(job_id)
            gpu_ids = [f"{node}:{index}" for node, indexes in placement for index in indexes]
        with self.store.session_scope() as session:
            if state.placed(session, run_id=run_id, job_id=job_id, gpu_ids=gpu_ids):
                gpus_service.record_placement(session, gpu_ids=gpu_ids, holder_type="run", holder_id=run_id)
        where = job.nodes if job is not None else "?"
        logger.info("run %s running as Slurm job %s on %s (GPUs %s)", run_id, job_id, where, gpu_ids)

    def _sweep(self, jobs: dict[str, Job]) -> None:
        live = {name: job for name, job in jobs.items() if name.startswith("run-") and not job.is_final}
        if not live:
            return
        with self.store.session_scope(read_only=True) as session:
            rows = dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(list(live)))).all())
        for name, job in live.items():
            status = rows.get(name)
            if status in (RunStatus.pending.value, RunStatus.running.value):
                continue
            logger.info("cancelling Slurm job %s: run %s is %s", job.job_id, name, status or "gone")
            try:
                self.slurm.cancel(job.job_id)
            except SlurmError as exc:
                logger.warning("could not cancel Slurm job %s: %s", job.job_id, exc)

    def _note_unavailable(self, message: str) -> None:
        reason = f"Slurm is not answering: {message}"[:500]
        with self.store.session_scope() as session:
            for run in session.scalars(
                select(Run).where(Run.status == RunStatus.pending.value, Run.executor == "slurm")
            ):
                if run.pending_reason != reason:
                    run.pending_reason = reason
