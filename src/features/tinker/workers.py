"""Tinker workers as the API sees them: one per base model, started on demand, judged by their heartbeat.

A worker is a child process started through `src.utils.processes` (a session of
its own, the service's environment minus its secrets, plus the database URL in
`TINKER_WORKER_DATABASE_URL`). It beats `heartbeat_at` every second; one silent
for `STALE_AFTER` is gone, whichever replica started it, and what it held fails
with category `server` rather than waiting forever.

On a host with GPUs (the ledger's inventory: NVML, else TUNING_GPUS) a worker holds
one in the same ledger as runs and deployments (`holder_type` "tinker_worker"),
sees only it (CUDA_VISIBLE_DEVICES), and gives it back when it leaves or is found
gone. With every GPU held, starting one is a 409; on a host without GPUs it runs
on the CPU.
"""

from __future__ import annotations

import secrets
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from src.features.gpus import service as gpus_service
from src.features.models.service import ModelSources
from src.models.errors import Conflict
from src.storage import Store
from src.storage.tables import TinkerFuture, TinkerModel, TinkerWorker
from src.storage.types import utcnow
from src.utils import processes
from src.utils.periodic import PeriodicWorker

PROJECT_ROOT = Path(__file__).resolve().parents[3]
WORKER_MODULE = "src.features.tinker.worker"
DATABASE_URL_VARIABLE = "TINKER_WORKER_DATABASE_URL"
STALE_AFTER = timedelta(seconds=15)  # a worker beats every second
GPU_HOLDER = "tinker_worker"


@dataclass(frozen=True)
class TinkerSetup:
    """What the Tinker API needs from the settings, as plain values."""

    database_url: str
    log_dir: Path
    weights_dir: Path  # saved adapters: <owner>/<model>/<weights|sampler_weights>/<name>
    models: ModelSources
    idle_seconds: float = 60.0  # a worker holding nothing for this long leaves
    run_idle_seconds: int = 3600  # a /v1/runs run untouched for this long ends
    gpu_ids: tuple[str, ...] = ()  # the ledger's inventory; empty: workers run on the CPU


def assign(
    session: Session, *, base_model: str, model_path: Path, setup: TinkerSetup, owner_scope: str | None = None
) -> str:
    """The id of a live worker for `base_model`, started now when none is (`owner_scope`: whose
    holders a 409 may name, as in the deployments' messages)."""
    candidates = session.scalars(
        select(TinkerWorker)
        .where(TinkerWorker.base_model == base_model, TinkerWorker.status.in_(("starting", "ready")))
        .order_by(TinkerWorker.started_at.desc())
    )
    for worker in candidates:
        if is_live(worker):
            return worker.id
        mark_gone(session, worker, reason="the worker stopped answering")
    return start(session, base_model=base_model, model_path=model_path, setup=setup, owner_scope=owner_scope)


def is_live(worker: TinkerWorker) -> bool:
    """On this host: its process still runs its command (a stalled heartbeat is not a death).

    Elsewhere: it has beaten within `STALE_AFTER`.
    """
    return worker.status in ("starting", "ready") and _running(worker)


def _running(worker: TinkerWorker) -> bool:
    if worker.host == socket.gethostname() and worker.pid is not None:
        return processes.is_alive(worker.pid, command=worker.command)
    return utcnow() - worker.heartbeat_at <= STALE_AFTER


def mark_gone(session: Session, worker: TinkerWorker, *, reason: str) -> None:
    """A worker that stopped: its requests fail (category `server`), its models are lost."""
    worker.status = "failed"
    worker.error = reason
    worker.stopped_at = utcnow()
    gpus_service.release(session, holder_type=GPU_HOLDER, holder_id=worker.id)
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


def start(
    session: Session, *, base_model: str, model_path: Path, setup: TinkerSetup, owner_scope: str | None = None
) -> str:
    """Start a worker process for `base_model` and record it (`starting` until it has loaded the model)."""
    worker_id = "tw-" + secrets.token_hex(8)
    gpu_ids = _hold_gpu(session, worker_id=worker_id, setup=setup, owner_scope=owner_scope)
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
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)  # none: the worker trains on the CPU
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


def _hold_gpu(session: Session, *, worker_id: str, setup: TinkerSetup, owner_scope: str | None) -> list[str]:
    """A free GPU of the ledger for a new worker (none on a host without GPUs); 409 when all are held."""
    if not setup.gpu_ids:
        return []
    sweep(session)  # a worker that died a moment ago gives its GPU back first
    free = gpus_service.free_gpus(session, gpu_ids=list(setup.gpu_ids))
    if not free:
        held = gpus_service.describe_holders(session, owner_scope=owner_scope)
        raise Conflict(
            f"no free GPU for a training worker; held: {held}",
            param="base_model",
            code="gpus_taken",
        )
    try:
        with session.begin_nested():
            gpus_service.acquire(session, gpu_ids=free[:1], holder_type=GPU_HOLDER, holder_id=worker_id)
    except IntegrityError as exc:
        raise Conflict("the GPU was taken a moment ago; try again", code="gpus_taken") from exc
    return free[:1]


def sweep(session: Session) -> int:
    """At start: workers recorded as running whose process is gone (the service was killed) give
    back their GPUs and fail what they held; returns how many."""
    rows = session.scalars(
        select(TinkerWorker).where(TinkerWorker.status.in_(("starting", "ready", "stopping")))
    )
    gone = [worker for worker in rows if not _running(worker)]
    for worker in gone:
        mark_gone(session, worker, reason="the worker was gone when the service started")
    return len(gone)


class Sweeper(PeriodicWorker):
    """Every few seconds: workers whose process died give back their GPUs (deployments and runs may
    be waiting for one) and fail what they held."""

    def __init__(self, store: Store, *, interval: float = 10.0) -> None:
        super().__init__(name="tinker-worker-sweeper", interval=interval)
        self.store = store

    def tick(self) -> None:
        with self.store.session_scope() as session:
            sweep(session)


def stop_all(session: Session) -> int:
    """Ask every live worker to leave (they read `stopping` within a poll); returns how many."""
    result = session.execute(
        update(TinkerWorker).where(TinkerWorker.status.in_(("starting", "ready"))).values(status="stopping")
    )
    return result.rowcount or 0
