"""The scheduler: claims pending runs in order while slots and GPUs allow, and launches them."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import func, select, text

from src.features.gpus import service as gpus_service
from src.features.runs import state
from src.features.runs.executors import LaunchError, LaunchSpec, RunExecutor
from src.features.runs.finish import finish_run
from src.features.runs.launch_lock import LaunchLock, try_lock
from src.features.runs.workspace import HOST_PATH_EXECUTORS, TrainingLayout
from src.models.runs import FailureCause, RunStatus
from src.storage import Store
from src.storage.tables import Run
from src.utils.child_env import FORBIDDEN_ENV
from src.utils.sealing import SealBroken

logger = logging.getLogger(__name__)

# the PostgreSQL advisory lock that serializes claims across every scheduler on the database
CLAIM_LOCK = 727274
# pending runs looked at beyond the free slots, to say why each is waiting
WAITING_SHOWN = 20
# runs on this executor are placed by the cluster (`slurm_queue`), not by this scheduler
CLUSTER_EXECUTOR = "slurm"


class Scheduler:
    def __init__(
        self,
        store: Store,
        *,
        layout: TrainingLayout,
        executors: dict[str, RunExecutor],
        max_concurrent_runs: int,
        base_env: dict[str, str],
    ) -> None:
        self.store = store
        self.layout = layout
        self.executors = executors
        self.max_concurrent_runs = max_concurrent_runs
        self.base_env = base_env

    def dispatch(self) -> None:
        """Claim what fits, then launch each claimed run, holding its launch lock until it has a process."""
        claimed = self.claim()
        try:
            for run_id, lock in claimed.items():
                lock.touch()
                self.launch(run_id)
                lock.release()
        finally:
            for lock in claimed.values():
                lock.release()

    def claim(self) -> dict[str, LaunchLock]:
        """Claim pending runs in order while slots and GPUs allow; returns each claimed run's launch lock.

        The claim is one transaction that holds the scheduling lock (BEGIN IMMEDIATE on
        SQLite, an advisory lock on PostgreSQL), so two schedulers never exceed the
        concurrency limit or claim the same run. Each run's launch lock is taken before
        the claim commits (see `launch_lock`).
        """
        claimed: dict[str, LaunchLock] = {}
        try:
            self._claim_into(claimed)
        except BaseException:
            for lock in claimed.values():
                lock.release()
            raise
        return claimed

    def _claim_into(self, claimed: dict[str, LaunchLock]) -> None:
        with self.store.session_scope() as session:
            if not self.store.is_sqlite:
                session.execute(text(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"))
            running = (
                session.scalar(
                    select(func.count())
                    .select_from(Run)
                    .where(Run.status == RunStatus.running.value, Run.executor != CLUSTER_EXECUTOR)
                )
                or 0
            )
            slots = self.max_concurrent_runs - running
            pending = list(
                session.scalars(
                    select(Run)
                    .where(Run.status == RunStatus.pending.value, Run.executor != CLUSTER_EXECUTOR)
                    .order_by(Run.id)
                    .limit(max(slots, 0) + WAITING_SHOWN)
                    .with_for_update(skip_locked=True)
                )
            )
            if not pending:
                return
            free = gpus_service.free_gpus(session, gpu_ids=self.layout.gpu_ids)
            for run in pending:
                if len(claimed) >= slots:
                    _set_reason(run, f"waiting for a run slot ({self.max_concurrent_runs} running)")
                    continue
                if run.gpus_requested > len(free):
                    held = gpus_service.describe_holders(session, owner_scope=run.owner)
                    _set_reason(run, f"waiting for {run.gpus_requested} free GPU(s); held: {held}")
                    continue
                taken = free[: run.gpus_requested]
                lock = _launch_lock(self.layout.workspace_of(run))
                if lock is None:
                    continue  # another engine's monitor is recovering it; the next pass sees
                if not state.claim(session, run_id=run.id, gpu_ids=taken):
                    lock.release()
                    continue  # cancelled since it was read
                claimed[run.id] = lock
                free = free[run.gpus_requested :]
                gpus_service.acquire(session, gpu_ids=taken, holder_type="run", holder_id=run.id)

    def launch(self, run_id: str) -> None:
        """Start a claimed run's command; a failure to start is the run's `launch_error`."""
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            assert run is not None
            executor = self.executors.get(run.executor)
            try:
                spec = launch_spec(run, layout=self.layout, base_env=self.base_env)
            except SealBroken:
                spec = None
        try:
            if spec is None:
                raise LaunchError("a sealed env value does not open: was TUNING_SECRETS_KEY changed?")
            if executor is None:
                raise LaunchError(f"executor {run.executor!r} is not available in this service")
            pgid, exec_id = executor.launch(spec)
        except LaunchError as exc:
            logger.warning("run %s could not start: %s", run_id, exc)
            finish_run(
                self.store,
                layout=self.layout,
                run_id=run_id,
                outcome=state.Outcome(RunStatus.failed, FailureCause.launch_error, str(exc)),
            )
            return
        with self.store.session_scope() as session:
            started = state.start(session, run_id=run_id, pgid=pgid, exec_id=exec_id)
        if not started:
            # another engine's monitor gave the run up while it was launching
            logger.warning("run %s ended while it was launching; stopping its process group", run_id)
            executor.signal_group(pgid, "TERM")
            return
        logger.info("run %s started (pgid %s)", run_id, pgid)


def launch_spec(run: Run, *, layout: TrainingLayout, base_env: dict[str, str]) -> LaunchSpec:
    """What starting the run takes: its command, its env (sealed values opened), its paths.

    Raises SealBroken when a sealed env value does not open.
    """
    exec_workspace = layout.exec_workspace(run.executor, run.id)
    # admission refused these already; a row written before the rule existed must not slip through
    user_env = {name: value for name, value in run.env.items() if not FORBIDDEN_ENV.match(name)}
    if layout.env_sealer is not None:
        user_env = {name: layout.env_sealer.open(value, context=run.id) for name, value in user_env.items()}
    env = {**(base_env if run.executor in HOST_PATH_EXECUTORS else {}), **user_env}
    env.update(
        {
            "TUNING_RUN_ID": run.id,
            "TUNING_RUN_DIR": exec_workspace,
            "TUNING_OUTPUT_DIR": run.output_dir or f"{exec_workspace}/output",
            "CUDA_VISIBLE_DEVICES": ",".join(run.gpu_ids),
        }
    )
    return LaunchSpec(
        run_id=run.id,
        argv=run.command,
        env=env,
        host_workspace=layout.workspace_of(run),
        exec_workspace=exec_workspace,
        exec_workdir=run.workdir or layout.exec_workdir(run.executor),
    )


def _launch_lock(workspace: Path) -> LaunchLock | None:
    try:
        return try_lock(workspace)
    except OSError:
        return LaunchLock(None)  # no workspace: the launch fails as `launch_error`


def _set_reason(run: Run, reason: str) -> None:
    if run.pending_reason != reason:
        run.pending_reason = reason
