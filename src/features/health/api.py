"""Health, readiness and metrics probes; none of them needs a key."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import __version__
from app.deps import StoreDep
from src.features.health import service
from src.features.health.metrics import scrape_store
from src.models.errors import error_responses
from src.models.health import HealthReport, Liveness, Readiness

router = APIRouter(tags=["health"])


# the one answer liveness ever gives, serialised once rather than validated per probe
_LIVE_BODY = Liveness().model_dump_json().encode()


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Response:  # async: liveness never waits for a worker thread
    """Liveness: the process answers."""
    return Response(_LIVE_BODY, media_type="application/json")


@router.get("/_internal/health", response_model=Liveness)
def internal_health() -> Liveness:
    """Liveness for internal probes."""
    return Liveness()


@router.get("/health", response_model=HealthReport, responses=error_responses(503))
def health(request: Request, store: StoreDep) -> HealthReport:
    """Version, uptime and job counts."""
    service.check_database(store)
    with store.session_scope(read_only=True) as session:
        active, total = service.job_counts(session)
    uptime = time.monotonic() - request.app.state.started_monotonic
    return HealthReport(version=__version__, uptime=round(uptime, 3), active_jobs=active, total_jobs=total)


@router.get("/readyz", response_model=Readiness, responses=error_responses(503))
def readyz(store: StoreDep) -> Readiness:
    """Readiness: the database answers."""
    service.check_database(store)
    return Readiness(checks={"database": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}
    },
)
def metrics(request: Request, store: StoreDep) -> Response:
    """Prometheus metrics: HTTP traffic, and runs, the queue, deployments and GPUs from the store."""
    state = request.app.state
    body = generate_latest(state.metrics_registry) + scrape_store(
        store, gpu_ids=state.training_layout.gpu_ids
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
