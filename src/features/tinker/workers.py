"""Tinker workers as the API sees them: one per base model, started on demand, judged by their heartbeat.

A worker is a child process started through `src.utils.processes` (a session of
its own, the service's environment minus its secrets, plus the database URL in
`TINKER_WORKER_DATABASE_URL`). It beats `heartbeat_at` every second; one silent
for `STALE_AFTER` is gone, whichever replica started it, and what it held fails
with category `server` rather than waiting forever.
"""

from __future__ import annotations

import secrets
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from src.features.models.service import ModelSources
from src.storage.tables import TinkerFuture, TinkerModel, TinkerWorker
from src.storage.types import utcnow
from src.utils import processes

PROJECT_ROOT = Path(__file__).resolve().parents[3]
WORKER_MODULE = "src.features.tinker.worker"
DATABASE_URL_VARIABLE = "TINKER_WORKER_DATABASE_URL"
STALE_AFTER = timedelta(seconds=15)  # a worker beats every second


@dataclass(frozen=True)
class TinkerSetup:
    """What the Tinker API needs from the settings, as plain values."""

    database_url: str
    log_dir: Path
    weights_dir: Path  # saved adapters: <owner>/<model>/<weights|sampler_weights>/<name>
    models: ModelSources
    idle_seconds: float = 60.0


def assign(session: Session, *, base_model: str, model_path: Path, setup: TinkerSetup) -> str:
    """The id of a live worker for `base_model`, started now when none is."""
    candidates = session.scalars(
        select(TinkerWorker)
        .where(TinkerWorker.base_model == base_model, TinkerWorker.status.in_(("starting", "ready")))
        .order_by(TinkerWorker.started_at.desc())
    )
    for worker in candidates:
        if is_live(worker):
            return worker.id
        mark_gone(session, worker, reason="the worker stopped answering")
    return start(session, base_model=base_model, model_path=model_path, setup=setup)


def is_live(worker: TinkerWorker) -> bool:
    """On this host: its process still runs its command (a stalled heartbeat is not a death).

    Elsewhere: it has beaten within `STALE_AFTER`.
    """
    if worker.status not in ("starting", "ready"):
        return False
    if worker.host == socket.gethostname() and worker.pid is not None:
        return processes.is_alive(worker.pid, command=worker.command)
    return utcnow() - worker.heartbeat_at <= STALE_AFTER


def mark_gone(session: Session, worker: TinkerWorker, *, reason: str) -> None:
    """A worker that stopped: its requests fail (category `server`), its models are lost."""
    worker.status = "failed"
    worker.error = reason
    worker.stopped_at = utcnow()
    session.execute(
        update(TinkerFuture)
        .where(TinkerFuture.worker_id == worker.id, TinkerFuture.status.in_(("pending", "running")))
        .values(status="failed", error=reason, category="server", finished_at=utcnow())
    )
    session.execute(
        update(TinkerModel)
        .where(TinkerModel.worker_id == worker.id, TinkerModel.status.in_(("creating", "ready")))
        .values(status="failed")
    )


def start(session: Session, *, base_model: str, model_path: Path, setup: TinkerSetup) -> str:
    """Start a worker process for `base_model` and record it (`starting` until it has loaded the model)."""
    worker_id = "tw-" + secrets.token_hex(8)
    argv = [
        sys.executable,
        "-m",
        WORKER_MODULE,
        f"--worker-id={worker_id}",
        f"--base-model={base_model}",  # `=`: a value can never be read as an option
        f"--model-path={model_path.resolve()}",  # the worker runs from the project root, not our cwd
        f"--idle-seconds={setup.idle_seconds}",
    ]
    env = processes.service_environment()
    env[DATABASE_URL_VARIABLE] = setup.database_url
    setup.log_dir.mkdir(parents=True, exist_ok=True)
    with (setup.log_dir / f"{worker_id}.log").open("ab") as log:
        child = processes.start(argv, env=env, cwd=PROJECT_ROOT, output=log)
    processes.reap_when_done(child, name=f"tinker worker {worker_id}")
    session.add(
        TinkerWorker(
            id=worker_id,
            base_model=base_model,
            host=socket.gethostname(),
            pid=child.pid,
            command=argv,
            status="starting",
        )
    )
    session.flush()
    return worker_id


def stop_all(session: Session) -> int:
    """Ask every live worker to leave (they read `stopping` within a poll); returns how many."""
    result = session.execute(
        update(TinkerWorker).where(TinkerWorker.status.in_(("starting", "ready"))).values(status="stopping")
    )
    return result.rowcount or 0
