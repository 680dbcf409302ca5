"""The GPU ledger shared by runs and deployments: which GPU is held by what."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from src.storage.tables import Deployment, GpuHold, GpuLease, Run
from src.storage.types import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuInfo:
    id: str
    name: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_percent: int | None = None


def nvml_inventory() -> list[GpuInfo] | None:
    """The GPUs NVML reports, or None when NVML (or its Python binding) is absent."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVML missing on this host: the library raises its own error types
        return None
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            found.append(
                GpuInfo(
                    id=str(index),
                    name=str(pynvml.nvmlDeviceGetName(handle)),
                    memory_total_mib=memory.total // 2**20,
                    memory_used_mib=memory.used // 2**20,
                    utilization_percent=pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                )
            )
        return found
    finally:
        pynvml.nvmlShutdown()


def inventory(configured: list[str]) -> list[GpuInfo]:
    """NVML when present, else the configured ids, else none."""
    from_nvml = nvml_inventory()
    if from_nvml is not None:
        return from_nvml
    return [GpuInfo(id=gpu_id) for gpu_id in configured]


def holders(session: Session) -> dict[str, GpuLease]:
    """Every held GPU and its lease."""
    return {lease.gpu_id: lease for lease in session.scalars(select(GpuLease))}


def free_gpus(session: Session, *, gpu_ids: list[str]) -> list[str]:
    held = holders(session)
    return [gpu_id for gpu_id in gpu_ids if gpu_id not in held]


def acquire(session: Session, *, gpu_ids: list[str], holder_type: str, holder_id: str) -> None:
    """Record the holder of each GPU; the primary key refuses a GPU someone else holds."""
    now = utcnow()
    for gpu_id in gpu_ids:
        session.add(GpuLease(gpu_id=gpu_id, holder_type=holder_type, holder_id=holder_id, acquired_at=now))
        session.add(GpuHold(gpu_id=gpu_id, holder_type=holder_type, holder_id=holder_id, started_at=now))
    session.flush()


def record_placement(session: Session, *, gpu_ids: list[str], holder_type: str, holder_id: str) -> None:
    """Record GPUs a cluster scheduler gave the holder (`node:index`): the cluster's word wins.

    Slurm may hand a GPU to the next job before this service has seen the last one end,
    so a lease still on one of these GPUs is ended rather than refusing the new holder.
    """
    session.execute(
        update(GpuHold)
        .where(GpuHold.gpu_id.in_(gpu_ids), GpuHold.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    session.execute(delete(GpuLease).where(GpuLease.gpu_id.in_(gpu_ids)))
    acquire(session, gpu_ids=gpu_ids, holder_type=holder_type, holder_id=holder_id)


def release(session: Session, *, holder_type: str, holder_id: str) -> None:
    """Drop the holder's leases; its holds stay in the history with their end."""
    session.execute(
        delete(GpuLease).where(GpuLease.holder_type == holder_type, GpuLease.holder_id == holder_id)
    )
    session.execute(
        update(GpuHold)
        .where(GpuHold.holder_type == holder_type, GpuHold.holder_id == holder_id, GpuHold.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def holds_since(session: Session, *, since: datetime) -> list[GpuHold]:
    """The holds that were live at any time after `since` (still held, or ended after it)."""
    stmt = (
        select(GpuHold)
        .where((GpuHold.ended_at.is_(None)) | (GpuHold.ended_at >= since))
        .order_by(GpuHold.started_at)
    )
    return list(session.scalars(stmt))


def holder_owners(session: Session, leases: list[GpuLease]) -> dict[tuple[str, str], str]:
    """The owner of each (holder_type, holder_id), in two queries whatever the number of leases."""
    run_ids = [lease.holder_id for lease in leases if lease.holder_type == "run"]
    deployment_ids = [lease.holder_id for lease in leases if lease.holder_type == "deployment"]
    owners: dict[tuple[str, str], str] = {}
    if run_ids:
        for run_id, owner in session.execute(select(Run.id, Run.owner).where(Run.id.in_(run_ids))):
            owners[("run", run_id)] = owner
    if deployment_ids:
        rows = session.execute(
            select(Deployment.id, Deployment.owner).where(Deployment.id.in_(deployment_ids))
        )
        for deployment_id, owner in rows:
            owners[("deployment", deployment_id)] = owner
    return owners


def visible_holders(session: Session, *, owner_scope: str | None) -> dict[str, tuple[str, str] | None]:
    """Each held GPU with (holder type, id) when the caller may see the holder, else None.

    `owner_scope` None is an admin: every holder shows. A user sees only its own
    runs and deployments; another owner's hold is None ("held by another owner").
    """
    held = holders(session)
    owners = holder_owners(session, list(held.values())) if owner_scope is not None else {}
    visible: dict[str, tuple[str, str] | None] = {}
    for gpu_id, lease in held.items():
        key = (lease.holder_type, lease.holder_id)
        shared = lease.holder_type == "tinker_worker"  # one per base model, its adapters of several owners
        visible[gpu_id] = key if owner_scope is None or shared or owners.get(key) == owner_scope else None
    return visible


def describe_holders(session: Session, *, owner_scope: str | None = None) -> str:
    """'0: run run-…, 1: held by another owner' for messages; ids only of what the caller may see."""
    visible = visible_holders(session, owner_scope=owner_scope)
    return (
        ", ".join(
            f"{gpu}: {holder[0]} {holder[1]}" if holder else f"{gpu}: held by another owner"
            for gpu, holder in sorted(visible.items())
        )
        or "none"
    )
