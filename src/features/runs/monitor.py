"""The monitor: follows running runs, ingests their output, and ends them.

It works from the store and the run's workspace on disk, never from memory
alone, so the service can be killed at any moment: on the next start the first
pass re-attaches to live runs, finishes those that exited while it was down
(from `exit_code`), and fails the ones that left no trace (`lost`). A run
claimed by an engine that died before recording its process (another replica,
or this service before a restart) is adopted from its `pid` file, or put back
in the queue when its command never started (`launch_lock`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from src.features.gpus import service as gpus_service
from src.features.runs import state, wakeup
from src.features.runs.executors import ExecutorUnavailable, RunExecutor
from src.features.runs.finish import error_tail, finish_run
from src.features.runs.ingest import ingest
from src.features.runs.launch_lock import LAUNCH_GRACE, try_lock
from src.features.runs.progress import looks_like_data_error, looks_like_oom
from src.features.runs.workspace import TrainingLayout
from src.models.runs import FailureCause, RunStatus
from src.storage import Store
from src.storage.tables import Run
from src.storage.types import utcnow

logger = logging.getLogger(__name__)

# A training program that cannot start for a reason of its own (no CUDA for QLoRA, say)
# prints this before exiting; the run then fails as `launch_error` with that message.
LAUNCH_ERROR_MARKER = "[tuning:launch_error]"
LIVENESS_EVERY = 2.0


@dataclass
class _Watch:
    """What the monitor remembers about a running run between passes (all of it recoverable)."""

    last_liveness_check: float = 0.0
    term_sent_at: float | None = None
    kill_sent: bool = False
    stalled: bool = False


class Monitor:
    def __init__(
        self,
        store: Store,
        *,
        layout: TrainingLayout,
        executors: dict[str, RunExecutor],
        stall_timeout: float,
        cancel_grace: float,
    ) -> None:
        self.store = store
        self.layout = layout
        self.executors = executors
        self.stall_timeout = stall_timeout
        self.cancel_grace = cancel_grace
        self._watches: dict[str, _Watch] = {}

    def poll(self) -> None:
        """Follow every running run once."""
        with self.store.session_scope(read_only=True) as session:
            running = list(session.scalars(select(Run.id).where(Run.status == RunStatus.running.value)))
        unavailable: dict[str, str] = {}  # executor → why, warned once per pass, not once per run
        for run_id in running:
            try:
                self.follow(run_id)
            except ExecutorUnavailable as exc:
                unavailable.setdefault(str(exc), run_id)
            except Exception:
                logger.exception("monitoring %s failed", run_id)
        for why, run_id in unavailable.items():
            logger.warning("runs left as they are until their executor answers (%s, …): %s", run_id, why)

    def follow(self, run_id: str) -> None:
        """Ingest new output, then decide whether the run has ended, must be stopped, or was lost."""
        watch = self._watches.setdefault(run_id, _Watch())
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            if run is None or run.status != RunStatus.running.value:
                self._watches.pop(run_id, None)
                return
            workspace = self.layout.workspace_of(run)
            executor = self.executors.get(run.executor)
            pgid, cancel_requested = run.pgid, run.cancel_requested
            exec_workspace = self.layout.exec_workspace(run.executor, run.id)
            last_activity = run.last_activity_at
        exit_code = _read_exit_code(workspace)
        ingest(self.store, layout=self.layout, run_id=run_id, final=exit_code is not None)
        if exit_code is not None:
            self._finish_from_exit(run_id, exit_code, watch)
            return
        now = time.monotonic()
        if cancel_requested or watch.stalled:
            self._stop_group(executor, pgid, watch, now)
        elif last_activity is not None and (utcnow() - last_activity).total_seconds() > self.stall_timeout:
            logger.warning("run %s stalled: no output for %.0f s", run_id, self.stall_timeout)
            watch.stalled = True
            self._stop_group(executor, pgid, watch, now)
        if now - watch.last_liveness_check < LIVENESS_EVERY and watch.term_sent_at is None:
            return
        watch.last_liveness_check = now
        alive = (
            executor is not None
            and pgid is not None
            and executor.is_alive(pgid, exec_workspace=exec_workspace)
        )
        if alive:
            return
        exit_code = _read_exit_code(workspace)  # it may have ended between the two looks
        if exit_code is not None:
            ingest(self.store, layout=self.layout, run_id=run_id, final=True)
            self._finish_from_exit(run_id, exit_code, watch)
        elif cancel_requested:
            self._finish(run_id, _cancelled())
        elif watch.stalled:
            self._finish(run_id, _stalled(self.stall_timeout))
        elif pgid is None and self._recover_launch(run_id, workspace):
            return
        else:
            why = executor.describe_gone(pgid) if executor is not None and pgid is not None else None
            message = why or "the run's process is gone and it left no exit code"
            self._finish(run_id, state.Outcome(RunStatus.failed, FailureCause.lost, message))

    def _recover_launch(self, run_id: str, workspace: Path) -> bool:
        """A claimed run with no process recorded: wait while its engine launches it, else take it over.

        Its engine holds the launch lock until the process is recorded, and loses it when it
        dies. Then the wrapper's `pid` file says whether the command started: if so the run
        is followed from that process group, otherwise it goes back to the queue. False when
        its workspace is gone: nothing can start or follow it.
        """
        try:
            lock = try_lock(workspace)
        except OSError:
            return False
        if lock is None:
            return True  # still being launched
        try:
            pgid = _read_pid(workspace)
            if pgid is None and lock.idle_seconds() < LAUNCH_GRACE:
                return True  # a wrapper started just now may not have written its pid yet
            with self.store.session_scope() as session:
                if pgid is not None:
                    if state.start(session, run_id=run_id, pgid=pgid, exec_id=None):
                        logger.warning(
                            "run %s: its engine died while launching it; following %s", run_id, pgid
                        )
                elif state.requeue(session, run_id=run_id):
                    gpus_service.release(session, holder_type="run", holder_id=run_id)
                    wakeup.queue_changed(session)
                    logger.warning("run %s: its engine died before starting it; queued again", run_id)
        finally:
            lock.release()
        self._watches.pop(run_id, None)
        return True

    def _stop_group(self, executor: RunExecutor | None, pgid: int | None, watch: _Watch, now: float) -> None:
        if executor is None or pgid is None:
            return
        if watch.term_sent_at is None:
            executor.signal_group(pgid, "TERM")
            watch.term_sent_at = now
        elif not watch.kill_sent and now - watch.term_sent_at >= self.cancel_grace:
            executor.signal_group(pgid, "KILL")
            watch.kill_sent = True

    def _finish_from_exit(self, run_id: str, exit_code: int, watch: _Watch) -> None:
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            cancel_requested = bool(run and run.cancel_requested)
            tail = error_tail(session, run_id=run_id)
        outcome = classify_exit(
            exit_code,
            tail=tail,
            cancel_requested=cancel_requested,
            stalled=watch.stalled,
            stall_timeout=self.stall_timeout,
        )
        self._finish(run_id, outcome, tail=tail)

    def _finish(self, run_id: str, outcome: state.Outcome, *, tail: list[str] | None = None) -> None:
        self._watches.pop(run_id, None)
        finish_run(self.store, layout=self.layout, run_id=run_id, outcome=outcome, tail=tail)


def classify_exit(
    exit_code: int, *, tail: list[str], cancel_requested: bool, stalled: bool, stall_timeout: float
) -> state.Outcome:
    """How a run that wrote `exit_code` ended."""
    launch_problem = next((line for line in tail if line.startswith(LAUNCH_ERROR_MARKER)), None)
    if exit_code == 0:
        return state.Outcome(RunStatus.succeeded, exit_code=exit_code)
    if launch_problem is not None:
        message = launch_problem.removeprefix(LAUNCH_ERROR_MARKER).strip()
        return state.Outcome(RunStatus.failed, FailureCause.launch_error, message, exit_code)
    if cancel_requested:
        return _cancelled(exit_code)
    if stalled:
        return _stalled(stall_timeout, exit_code)
    if looks_like_oom(tail):
        return state.Outcome(
            RunStatus.failed, FailureCause.oom, f"out of memory (exit code {exit_code})", exit_code
        )
    if looks_like_data_error(tail):
        message = f"the training data could not be used (exit code {exit_code})"
        return state.Outcome(RunStatus.failed, FailureCause.data_error, message, exit_code)
    message = f"the training command exited with code {exit_code}"
    return state.Outcome(RunStatus.failed, FailureCause.exit_code, message, exit_code)


def _cancelled(exit_code: int | None = None) -> state.Outcome:
    message = "cancelled by the user"
    return state.Outcome(RunStatus.cancelled, FailureCause.cancelled_by_user, message, exit_code)


def _stalled(stall_timeout: float, exit_code: int | None = None) -> state.Outcome:
    message = f"no output for {stall_timeout:.0f} s; the run was stopped"
    return state.Outcome(RunStatus.failed, FailureCause.stalled, message, exit_code)


def _read_pid(workspace: Path) -> int | None:
    try:
        text_value = (workspace / "pid").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text_value) if text_value.isdigit() else None


def _read_exit_code(workspace: Path) -> int | None:
    try:
        text_value = (workspace / "exit_code").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text_value) if text_value.lstrip("-").isdigit() else None
