"""The end of a run: its outcome recorded once, its artifacts registered, its GPUs released."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from src.features.gpus import service as gpus_service
from src.features.runs import service as runs_service
from src.features.runs import state
from src.features.runs.artifacts import register_artifacts, scan_artifacts
from src.features.runs.workspace import TrainingLayout
from src.storage import Store
from src.storage.tables import Run

logger = logging.getLogger(__name__)

ERROR_TAIL_LINES = 50


def error_tail(session: Session, *, run_id: str) -> list[str]:
    """The last log lines, kept with a failed run."""
    return [row.line for row in runs_service.log_tail(session, run_id=run_id, count=ERROR_TAIL_LINES)]


def finish_run(
    store: Store,
    *,
    layout: TrainingLayout,
    run_id: str,
    outcome: state.Outcome,
    tail: list[str] | None = None,
) -> bool:
    """Move a running run to its outcome once, register its artifacts, release its GPUs.

    `tail` is the log tail when the caller already read it (no log line is written
    after exit). Returns whether this call ended the run.
    """
    with store.session_scope(read_only=True) as session:
        run = session.get(Run, run_id)
        output = layout.host_path_of(run.executor, run.output_dir) if run and run.output_dir else None
    # hash outside the write transaction: model files can be large
    found = scan_artifacts(output) if output is not None and output.is_dir() else []
    with store.session_scope() as session:
        if tail is None and outcome.cause is not None:
            tail = error_tail(session, run_id=run_id)
        if not state.finish(session, run_id=run_id, outcome=outcome, tail=tail):
            return False
        gpus_service.release(session, holder_type="run", holder_id=run_id)
        register_artifacts(session, run_id=run_id, found=found)
    cause = f" ({outcome.cause.value})" if outcome.cause else ""
    logger.info("run %s %s%s", run_id, outcome.status.value, cause)
    return True
