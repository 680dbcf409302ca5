"""Health probe answers."""

from __future__ import annotations

from typing import Literal

from src.models.common import ApiModel


class Liveness(ApiModel):
    status: Literal["ok"] = "ok"


class HealthReport(ApiModel):
    status: Literal["healthy"] = "healthy"
    version: str
    uptime: float
    active_jobs: int
    total_jobs: int


class Readiness(ApiModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]
