"""Every router of the service and the paths it serves, listed by hand (as Polar's `api.py` does).

A new router is added here, not found by scanning packages: this file is the whole HTTP
surface on one screen. tests/app/test_routers.py checks that each router serves only the
paths written beside it and that no feature's router is left out.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from src.features.auth import api as auth_api
from src.features.datasets import api as datasets_api
from src.features.deid import api as deid_api
from src.features.deployments import api as deployments_api
from src.features.gpus import api as gpus_api
from src.features.health import api as health_api
from src.features.openai import api as openai_api
from src.features.projects import api as projects_api
from src.features.runs import api as runs_api
from src.features.tinker import api as tinker_api
from src.features.tinker import runs_api as tinker_runs_api
from src.features.train_configs import api as train_configs_api
from src.features.tunings import api as tunings_api
from src.features.ui import api as ui_api
from src.features.ui import datasets_api as ui_datasets_api
from src.features.ui import deid_api as ui_deid_api
from src.features.ui import deployments_api as ui_deployments_api
from src.features.ui import jobs_api as ui_jobs_api
from src.features.ui import keys_api as ui_keys_api

# (router, the path prefixes its routes start with), in the order they are matched
ROUTERS: tuple[tuple[APIRouter, tuple[str, ...]], ...] = (
    (health_api.router, ("/health", "/healthz", "/readyz", "/metrics", "/_internal/health")),
    (auth_api.router, ("/v1/keys", "/v1/me")),
    (projects_api.router, ("/projects",)),
    (runs_api.router, ("/projects/{name}/runs", "/runs")),
    (datasets_api.router, ("/v1/datasets", "/v1/uploads")),
    (train_configs_api.router, ("/v1/train-config", "/v1/train-configs")),
    (deid_api.router, ("/v1/deid/", "/v1/deidentify:test", "/v1/datasets/{dataset_id}/deidentify")),
    (tunings_api.router, ("/v1/tunings.",)),
    (openai_api.files_router, ("/v1/files",)),
    (openai_api.jobs_router, ("/v1/fine_tuning/jobs",)),
    (openai_api.models_router, ("/v1/models",)),
    (gpus_api.router, ("/v1/gpus",)),
    (deployments_api.router, ("/deployments",)),
    (tinker_api.router, ("/api/v1/",)),
    (tinker_runs_api.router, ("/v1/runs", "/v1/sample", "/v1/jobs/", "/v1/checkpoints")),
    # the web dashboard: HTML pages, outside the OpenAPI document
    (ui_api.router, ("/ui/login", "/ui/logout", "/ui/", "/ui/runs", "/ui/compare", "/ui/fragments/")),
    (ui_deployments_api.router, ("/ui/deployments",)),
    (ui_datasets_api.router, ("/ui/datasets",)),
    (ui_deid_api.router, ("/ui/deid",)),
    (ui_jobs_api.router, ("/ui/jobs",)),
    (ui_keys_api.router, ("/ui/keys",)),
)


def include_routers(app: FastAPI) -> None:
    """Mount every router listed above on the application."""
    for router, _prefixes in ROUTERS:
        app.include_router(router)
