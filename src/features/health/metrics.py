"""Prometheus gauges read from the store at scrape time: runs, the queue, deployments, GPUs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session

from src.models.deployments import DeploymentStatus
from src.models.runs import RunStatus
from src.storage import Store
from src.storage.tables import Deployment, GpuLease, Run

logger = logging.getLogger(__name__)

GPU_HOLDER_TYPES = ("run", "deployment")


@dataclass(frozen=True)
class StoreCounts:
    runs: dict[str, int]
    deployments: dict[str, int]
    gpus_held: dict[str, int]


def count_by(session: Session, column: InstrumentedAttribute[str]) -> dict[str, int]:
    """Rows per value of `column`, in one GROUP BY."""
    return {value: count for value, count in session.execute(select(column, func.count()).group_by(column))}


def read_counts(session: Session) -> StoreCounts:
    """Runs and deployments by status, GPU leases by holder type: three queries."""
    return StoreCounts(
        runs=count_by(session, Run.status),
        deployments=count_by(session, Deployment.status),
        gpus_held=count_by(session, GpuLease.holder_type),
    )


class StoreCollector(Collector):
    """Gauges computed on each scrape; while the store does not answer, only `tuning_store_up 0`."""

    def __init__(self, store: Store, *, gpu_ids: Sequence[str]) -> None:
        self.store = store
        self.gpu_ids = list(gpu_ids)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tuning_store_up", "1 when the store answered this scrape's queries, else 0")
        try:
            with self.store.session_scope(read_only=True) as session:
                counts = read_counts(session)
        except SQLAlchemyError as exc:
            # a scrape during a database outage reports the outage instead of failing with a 500
            logger.warning("metrics: the store did not answer: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _by_label("tuning_runs", "Runs by status", "status", counts.runs, known=RunStatus)
        yield GaugeMetricFamily(
            "tuning_run_queue_length",
            "Runs waiting for the scheduler (status pending)",
            value=counts.runs.get(RunStatus.pending.value, 0),
        )
        yield _by_label(
            "tuning_deployments",
            "Deployments by status",
            "status",
            counts.deployments,
            known=DeploymentStatus,
        )
        yield GaugeMetricFamily(
            "tuning_gpus_total", "GPUs the service schedules runs and deployments on", value=len(self.gpu_ids)
        )
        yield _by_label(
            "tuning_gpus_held",
            "GPUs held, by the kind of holder",
            "holder_type",
            counts.gpus_held,
            known=GPU_HOLDER_TYPES,
        )


def _by_label(
    name: str, documentation: str, label: str, counts: dict[str, int], *, known: Iterable[str]
) -> GaugeMetricFamily:
    """One series per known value (0 when absent, so series never vanish) and per value found."""
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    values = [str(value) for value in known]
    for value in values + sorted(set(counts) - set(values)):
        gauge.add_metric([value], counts.get(value, 0))
    return gauge


def scrape_store(store: Store, *, gpu_ids: Sequence[str]) -> bytes:
    """The store's gauges in the Prometheus text format."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, gpu_ids=gpu_ids))
    return generate_latest(registry)
