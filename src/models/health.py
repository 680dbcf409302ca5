"""Health probe answers."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from src.models.common import ApiModel


class Liveness(ApiModel):
    status: Literal["ok"] = "ok"

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})


class HealthReport(ApiModel):
    status: Literal["healthy"] = "healthy"
    version: str
    uptime: float
    active_jobs: int
    total_jobs: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "healthy",
                    "version": "0.1.0",
                    "uptime": 3600.512,
                    "active_jobs": 1,
                    "total_jobs": 3,
                }
            ]
        }
    )


class Readiness(ApiModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ready", "checks": {"database": "ok"}}]}
    )
