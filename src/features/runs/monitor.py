"""The monitor: follows running runs, ingests their output, and ends them.

It works from the store and the run's workspace on disk, never from memory
alone, so the service can be killed at any moment: on the next start the first
pass re-attaches to live runs, finishes those that exited while it was down
(from `exit_code`), and fails the ones that left no trace (`lost`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from src.features.runs import state
from src.features.runs.executors import RunExecutor
from src.features.runs.finish import error_tail, finish_run
from src.features.runs.ingest import ingest
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
# a run with no process group yet is still being launched (by this or another engine) this long
LAUNCH_WINDOW = 30.0


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
        for run_id in running:
            try:
                self.follow(run_id)
            except Exception:
                logger.exception("monitoring %s failed", run_id)

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
        elif pgid is None and (utcnow() - (last_activity or utcnow())).total_seconds() < LAUNCH_WINDOW:
            return  # still launching
        else:
            self._finish(
                run_id,
                state.Outcome(
                    RunStatus.failed, FailureCause.lost, "the run's process is gone and it left no exit code"
                ),
            )

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


def _read_exit_code(workspace: Path) -> int | None:
    try:
        text_value = (workspace / "exit_code").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text_value) if text_value.lstrip("-").isdigit() else None
