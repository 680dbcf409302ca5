"""The GPU ledger shared by runs and deployments: which GPU is held by what."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from src.storage.tables import GpuLease

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
    for gpu_id in gpu_ids:
        session.add(GpuLease(gpu_id=gpu_id, holder_type=holder_type, holder_id=holder_id))
    session.flush()


def release(session: Session, *, holder_type: str, holder_id: str) -> None:
    session.execute(
        delete(GpuLease).where(GpuLease.holder_type == holder_type, GpuLease.holder_id == holder_id)
    )


def describe_holders(session: Session) -> str:
    """'0: run run-…, 1: deployment dep-…' for error messages."""
    held = holders(session)
    return (
        ", ".join(f"{gpu}: {lease.holder_type} {lease.holder_id}" for gpu, lease in sorted(held.items()))
        or "none"
    )
