"""The run life cycle: every change of a run's status, each one guarded.

    pending ──claim──► running ──finish──► succeeded | failed | cancelled
       ├──placed──┘ (a cluster run: submitted while pending, running once the cluster starts it)
       │    ◄─requeue──┘ (claimed, but its engine died before starting it)
       └──────────request_cancel─────────► cancelled

Each transition is one `UPDATE … WHERE id = :id AND status IN (allowed)` that
says whether it won, so two engines, or an engine and a cancel request, never
both move the same run, and no caller assigns `status` itself. Terminal states
never change: no transition allows one, and a finished run only leaves whole
(`delete_finished`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from src.models.runs import TERMINAL_STATUSES, FailureCause, RunStatus
from src.storage.tables import Run
from src.storage.types import utcnow

PENDING = (RunStatus.pending,)
# the exec_id of a cluster run while one engine submits it
SUBMITTING = "submitting"
RUNNING = (RunStatus.running,)


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its terminal status and, unless it succeeded, the cause and a message."""

    status: RunStatus
    cause: FailureCause | None = None
    message: str | None = None
    exit_code: int | None = None


def is_finished(run: Run) -> bool:
    """Whether the run is in a terminal state, which it never leaves."""
    return RunStatus(run.status) in TERMINAL_STATUSES


def _now_running(gpu_ids: list[str]) -> dict[str, object]:
    """What every pending → running move writes: the GPUs, no wait reason, the start time."""
    now = utcnow()
    return {
        "status": RunStatus.running.value,
        "gpu_ids": gpu_ids,
        "pending_reason": None,
        "started_at": now,
        "last_activity_at": now,
    }


def claim(session: Session, *, run_id: str, gpu_ids: list[str]) -> bool:
    """pending → running, holding `gpu_ids`; False when the run is no longer pending."""
    return _move(session, run_id, allowed=PENDING, **_now_running(gpu_ids))


def requeue(session: Session, *, run_id: str) -> bool:
    """running → pending for a claimed run whose command never started; False otherwise."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.running.value, Run.pgid.is_(None))
        .values(status=RunStatus.pending.value, gpu_ids=[], started_at=None, last_activity_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def mark_submitting(session: Session, *, run_id: str) -> bool:
    """Take the right to submit a pending cluster run (no job yet); False when another engine has it."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.pending.value, Run.exec_id.is_(None))
        .values(exec_id=SUBMITTING, last_activity_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def submitted(session: Session, *, run_id: str, job_id: str | None) -> bool:
    """Record the cluster job of a run being submitted (None: submit it again later)."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.exec_id == SUBMITTING)
        .values(exec_id=job_id, pending_reason="submitted to Slurm" if job_id else None)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def placed(session: Session, *, run_id: str, job_id: str, gpu_ids: list[str]) -> bool:
    """pending → running for a cluster run whose job the cluster started, on `gpu_ids`."""
    return _move(
        session,
        run_id,
        allowed=PENDING,
        **_now_running(gpu_ids),
        executor_queue_position=None,
        pgid=int(job_id),
        exec_id=job_id,
    )


def fail_pending(session: Session, *, run_id: str, outcome: Outcome) -> bool:
    """pending → failed for a run that could not be handed to its executor (a refused submission)."""
    return _move(
        session,
        run_id,
        allowed=PENDING,
        status=outcome.status.value,
        failure_cause=outcome.cause.value if outcome.cause else None,
        error_message=outcome.message,
        finished_at=utcnow(),
    )


def start(session: Session, *, run_id: str, pgid: int, exec_id: str | None) -> bool:
    """Record the process a claimed run's command started; False when the run has already ended."""
    return _move(session, run_id, allowed=RUNNING, pgid=pgid, exec_id=exec_id)


def request_cancel(session: Session, *, run_id: str) -> bool:
    """Cancel a pending run at once, or mark a running one for the monitor to stop; False when finished."""
    if _move(
        session,
        run_id,
        allowed=PENDING,
        status=RunStatus.cancelled.value,
        failure_cause=FailureCause.cancelled_by_user.value,
        error_message="cancelled before it started",
        finished_at=utcnow(),
        cancel_requested=True,
    ):
        return True
    return _move(session, run_id, allowed=RUNNING, cancel_requested=True)


def finish(session: Session, *, run_id: str, outcome: Outcome, tail: list[str] | None) -> bool:
    """running → the outcome's terminal status, once; False when the run had already ended.

    `tail` (the last log lines) is kept with a failure; a success reaches progress 1.0.
    """
    if outcome.status not in TERMINAL_STATUSES:
        raise ValueError(f"a run cannot finish as {outcome.status}")
    values: dict[str, Any] = {
        "status": outcome.status.value,
        "exit_code": outcome.exit_code,
        "failure_cause": outcome.cause.value if outcome.cause else None,
        "error_message": outcome.message,
        "error_tail": tail if outcome.cause is not None else None,
        "finished_at": utcnow(),
    }
    if outcome.status is RunStatus.succeeded:
        values["progress"] = 1.0
    return _move(session, run_id, allowed=RUNNING, **values)


def delete_finished(session: Session, *, run_id: str) -> bool:
    """Delete a finished run (its logs, metrics, artifacts and tuning job go with it); False otherwise."""
    result = session.execute(
        delete(Run)
        .where(Run.id == run_id, Run.status.in_([s.value for s in TERMINAL_STATUSES]))
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def lock_unfinished(session: Session, *, run_id: str) -> Run | None:
    """The run's row, locked and freshly read, while it has not finished; else None."""
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    return None if run is None or is_finished(run) else run


def _move(session: Session, run_id: str, *, allowed: Collection[RunStatus], **values: Any) -> bool:
    # "fetch" updates a loaded row only when the database matched it: an "evaluate" on a
    # stale in-memory status could show a change that the guard refused
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_([s.value for s in allowed]))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
