"""create_app(): the FastAPI application with its store, routers and middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from app import __version__
from app.background import BackgroundWorkers
from app.bodies import BodyGuardMiddleware
from app.config import Settings, get_settings
from app.deps import Reader, SessionGate
from app.docs import install_docs
from app.errors import install_error_handlers
from app.logging import configure_logging
from app.middleware import HttpMetrics, RequestContextMiddleware
from app.ratelimit import RateLimiter
from app.routers import include_routers
from src.features.auth import service as auth_service
from src.features.auth.cache import key_cache_for
from src.features.datasets import service as datasets_service
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.features.deid import service as deid_service
from src.features.deid.mappings import MappingVault, load_or_create_key_file
from src.features.deployments.manager import DeploymentManager
from src.features.deployments.service import DeploySetup
from src.features.deployments.slurm_servers import SlurmServers
from src.features.gpus import service as gpus_service
from src.features.models.demo import DEMO_MODEL_NAME, ensure_demo_model
from src.features.models.service import ModelSources
from src.features.runs.engine import EngineSettings, RunEngine
from src.features.runs.executors import RunExecutor
from src.features.runs.executors.docker import DockerExecutor
from src.features.runs.executors.local import LocalExecutor
from src.features.runs.executors.slurm import SlurmExecutor
from src.features.runs.workspace import TrainingLayout
from src.features.tinker import workers as tinker_workers
from src.features.tinker.workers import TinkerSetup
from src.features.train_configs.service import ConfigFiles
from src.features.tunings.service import TuningSetup
from src.models.common import declared_examples
from src.storage import Store
from src.utils import processes
from src.utils.child_user import resolve_child_user
from src.utils.sealing import Sealer
from src.utils.slurm import Slurm

logger = logging.getLogger(__name__)

DESCRIPTION = """
Tuning Service is a self-hosted control plane for fine-tuning and serving LLMs.

Authenticate with `Authorization: Bearer <key>`. Every error has the shape
`{"error": {"type", "message", "code", "param"}}`. Lists are cursor-paginated:
`{"object": "list", "data": [...], "has_more": bool}`; pass the last item's id as `after`.
"""


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name, which is unique across features."""
    return route.name


def _bootstrap_keys(store: Store, settings: Settings) -> None:
    with store.session_scope() as session:
        configured = [(k.key, k.owner, auth_service.Role(k.role)) for k in settings.auth.api_keys]
        created = auth_service.sync_bootstrap_keys(session, keys=configured)
        if created:
            logger.info("created %d API key(s) from TUNING_API_KEYS", created)
        if settings.auth.mode == "api_key":
            key_file = auth_service.ensure_first_admin_key(
                session, key_file=settings.store.data_dir / "admin.key"
            )
            if key_file is not None:
                logger.warning("no API keys existed: an admin key was written to %s (mode 0600)", key_file)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store, apply migrations, create bootstrap keys; dispose on shutdown."""
    settings: Settings = app.state.settings
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.server.worker_threads
    store = Store(
        settings.store.database_url,
        pool_size=settings.pool_size,
        busy_timeout_ms=settings.store.sqlite_busy_timeout_ms,
    )
    await anyio.to_thread.run_sync(store.upgrade)
    await anyio.to_thread.run_sync(_bootstrap_keys, store, settings)
    app.state.store = store
    app.state.session_gate = SessionGate(settings.session_gate)
    app.state.reader = Reader(store, threads=settings.read_threads)
    app.state.key_cache = key_cache_for(store.engine, ttl=settings.auth.key_cache_seconds)
    app.state.background = BackgroundWorkers()
    app.state.uploads = UploadRegistry()
    app.state.dataset_files = DatasetFiles(settings.store.data_dir)
    # uploads are read by the service and reach runs only as the valid files staged into a
    # workspace; nothing else (a training command run as another user) may enter their directory
    app.state.dataset_files.root.mkdir(parents=True, exist_ok=True)
    app.state.dataset_files.root.chmod(0o700)
    app.state.config_files = ConfigFiles(settings.store.data_dir)
    demo_model = None
    if settings.models.demo_model:
        # first start only: a few seconds to build, then it is on disk
        demo_model = await anyio.to_thread.run_sync(ensure_demo_model, settings.store.data_dir / "models")
    app.state.training_layout = training_layout(
        settings, models=model_sources(settings, demo_model=demo_model)
    )
    app.state.tuning_setup = tuning_setup(settings, app)
    app.state.tinker_setup = TinkerSetup(
        database_url=settings.store.database_url,
        log_dir=settings.store.data_dir / "tinker" / "workers",
        # absolute: the workers run from the project root, whatever the service's working directory
        weights_dir=(
            settings.tinker.tinker_checkpoints_dir or settings.store.data_dir / "tinker" / "weights"
        ).resolve(),
        models=app.state.tuning_setup.models,
        idle_seconds=settings.tinker.tinker_worker_idle_seconds,
        run_idle_seconds=settings.tinker.tinker_run_idle_seconds,
        gpu_ids=tuple(app.state.training_layout.gpu_ids),
    )
    await anyio.to_thread.run_sync(_sweep_tinker_workers, store)
    app.state.tinker_sweeper = tinker_workers.Sweeper(store)
    app.state.tinker_sweeper.start()
    app.state.rate_limiter = RateLimiter(
        storage_uri=settings.rate_limits.rate_limit_storage,
        limits_by_group=settings.rate_limits.rate_limits,
        key_prefix=settings.rate_limits.rate_limit_prefix,
    )
    await anyio.to_thread.run_sync(_recover_datasets, app)
    await anyio.to_thread.run_sync(_setup_deid, app)
    app.state.deploy_setup = deploy_setup(settings, app)
    app.state.deployment_manager = None
    if settings.training.scheduler:
        deployments = settings.deployments
        app.state.deployment_manager = DeploymentManager(
            store,
            interval=deployments.deploy_health_interval,
            unhealthy_after=deployments.deploy_unhealthy_after,
            start_timeout=deployments.deploy_start_timeout,
            upstream_secret=app.state.deploy_setup.upstream_secret,
            run_as=resolve_child_user(settings.training.run_as_user),
            slurm=slurm_servers(settings),
        )
        await anyio.to_thread.run_sync(app.state.deployment_manager.start)
    app.state.run_engine = None
    if settings.training.scheduler:
        app.state.run_engine = build_engine(store, settings, layout=app.state.training_layout)
        app.state.run_engine.start()
    app.state.started_monotonic = time.monotonic()
    logger.info(
        "tuning service started", extra={"database": store.engine.url.render_as_string(hide_password=True)}
    )
    try:
        yield
    finally:
        logger.info("tuning service stopping")
        if app.state.run_engine is not None:
            await anyio.to_thread.run_sync(app.state.run_engine.stop)
        if app.state.deployment_manager is not None:
            await anyio.to_thread.run_sync(app.state.deployment_manager.stop)
        await anyio.to_thread.run_sync(app.state.background.shutdown)
        await app.state.rate_limiter.aclose()
        await anyio.to_thread.run_sync(app.state.tinker_sweeper.stop)
        await anyio.to_thread.run_sync(_stop_tinker_workers, store)
        store.dispose()


def _sweep_tinker_workers(store: Store) -> None:
    """Workers a killed service left recorded as running give their GPUs back (their processes are gone)."""
    with store.session_scope() as session:
        swept = tinker_workers.sweep(session)
    if swept:
        logger.info("tinker workers found gone at start", extra={"count": swept})


def _stop_tinker_workers(store: Store) -> None:
    """Tinker workers leave with the service (their requests then fail with category `server`)."""
    with store.session_scope() as session:
        tinker_workers.stop_all(session)


def training_layout(settings: Settings, *, models: ModelSources | None = None) -> TrainingLayout:
    """The training settings as plain values, with the GPU inventory read once."""
    training = settings.training
    gpu_ids = [gpu.id for gpu in gpus_service.inventory(training.gpus)]
    default_gpus = training.run_gpus if training.run_gpus is not None else (1 if gpu_ids else 0)
    return TrainingLayout(
        training_dir=training.training_dir,
        container_dir=training.training_container_dir,
        workdir=training.training_workdir,
        command=training.training_command,
        default_executor=training.executor,
        gpu_ids=gpu_ids,
        default_gpus=default_gpus,
        # a cluster's GPUs are not in this host's inventory: a Slurm run gets one unless told otherwise
        slurm_default_gpus=training.run_gpus if training.run_gpus is not None else 1,
        env_allowlist=tuple(training.env_allowlist),
        env_sealer=Sealer(
            training.secrets_key or load_or_create_key_file(settings.store.data_dir / "secrets.key"),
            purpose="tuning-run-env",
        ),
        models=models,
        max_nodes=settings.slurm.slurm_max_nodes,
        slurm=uses_slurm(settings),
    )


def deploy_setup(settings: Settings, app: FastAPI) -> DeploySetup:
    deployments = settings.deployments
    return DeploySetup(
        command=deployments.deploy_command,
        ports=deployments.port_range,
        host=deployments.deploy_host,
        logs_dir=settings.store.data_dir / "deploy_logs",
        models=app.state.tuning_setup.models,
        layout=app.state.training_layout,
        gpu_ids=app.state.training_layout.gpu_ids,
        upstream_secret=deployments.deploy_upstream_secret
        or load_or_create_key_file(settings.store.data_dir / "deploy-upstream.key"),
        trust_remote_code=deployments.deploy_trust_remote_code,
        executor=deployments.deploy_executor,
    )


def slurm_servers(settings: Settings) -> SlurmServers | None:
    """Model servers as Slurm jobs, when TUNING_DEPLOY_EXECUTOR is slurm."""
    if settings.deployments.deploy_executor != "slurm":
        return None
    run_as = resolve_child_user(settings.training.run_as_user)
    return SlurmServers(
        Slurm(run_as=run_as),
        run_as=run_as,
        partition=settings.slurm.slurm_partition,
        account=settings.slurm.slurm_account,
    )


def model_sources(settings: Settings, *, demo_model: Path | None = None) -> ModelSources:
    """The base models this host offers: the catalog, the demo model when built, the model roots."""
    catalog = dict(settings.models.model_catalog)
    if demo_model is not None:
        catalog.setdefault(DEMO_MODEL_NAME, demo_model)
    return ModelSources(catalog=catalog, roots=settings.models.model_roots)


def tuning_setup(settings: Settings, app: FastAPI) -> TuningSetup:
    layout: TrainingLayout = app.state.training_layout
    return TuningSetup(
        layout=layout,
        models=layout.models or model_sources(settings),
        command=settings.tuning.tuning_command,
        executor=settings.tuning.tuning_executor,
        dataset_files=app.state.dataset_files,
        config_files=app.state.config_files,
        max_yaml_bytes=settings.uploads.max_yaml_bytes,
    )


def uses_slurm(settings: Settings) -> bool:
    """Whether runs, tuning jobs or model servers go to a Slurm cluster."""
    return "slurm" in (
        settings.training.executor,
        settings.tuning.tuning_executor,
        settings.deployments.deploy_executor,
    )


def build_engine(store: Store, settings: Settings, *, layout: TrainingLayout) -> RunEngine:
    """The scheduler and monitor, with the executors: local, docker, and slurm when configured."""
    training = settings.training
    # the service's own secrets (keys, database URL) are not handed to training processes
    base_env = processes.service_environment()
    run_as = resolve_child_user(training.run_as_user)
    executors: dict[str, RunExecutor] = {
        "local": LocalExecutor(run_as=run_as),
        "docker": DockerExecutor(container=training.training_container, user=training.docker_user),
    }
    if uses_slurm(settings):
        executors["slurm"] = SlurmExecutor(
            Slurm(run_as=run_as),
            run_as=run_as,
            partition=settings.slurm.slurm_partition,
            account=settings.slurm.slurm_account,
            time_limit=settings.slurm.slurm_time_limit,
        )
    return RunEngine(
        store,
        layout=layout,
        executors=executors,
        settings=EngineSettings(
            max_concurrent_runs=training.max_concurrent_runs,
            monitor_interval=training.monitor_interval,
            stall_timeout=training.stall_timeout,
            cancel_grace=training.cancel_grace,
            base_env=base_env,
            queue_poll_interval=training.queue_poll_interval,
        ),
    )


def _setup_deid(app: FastAPI) -> None:
    """The built-in policy, the mapping vault, and dataset jobs a stopped service left unfinished."""
    settings: Settings = app.state.settings
    store: Store = app.state.store
    with store.session_scope() as session:
        deid_service.ensure_default_policy(session)
    data_dir = settings.store.data_dir
    secret = settings.deid.deid_mapping_key or load_or_create_key_file(data_dir / "deid-mapping.key")
    app.state.deid_vault = MappingVault(data_dir / "deid" / "mappings", secret=secret)
    background: BackgroundWorkers = app.state.background
    for job_id in deid_service.unfinished_jobs(store):
        background.submit(
            deid_service.run_job,
            store,
            job_id=job_id,
            files=app.state.dataset_files,
            vault=app.state.deid_vault,
            should_stop=background.should_stop,
        )


def _recover_datasets(app: FastAPI) -> None:
    """Remove partial uploads a killed process left behind; finish validations it did not."""
    files: DatasetFiles = app.state.dataset_files
    removed = files.sweep_temp_files()
    if removed:
        logger.info("removed %d partial upload(s) left by a previous run", removed)
    background: BackgroundWorkers = app.state.background
    for upload_id in datasets_service.pending_validations(app.state.store):
        background.submit(
            datasets_service.validate_upload,
            app.state.store,
            upload_id=upload_id,
            files=files,
            should_stop=background.should_stop,
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; the store opens when its lifespan starts."""
    settings = settings or get_settings()
    configure_logging(level=settings.server.log_level, log_file=settings.server.log_file)
    app = FastAPI(
        title="Tuning Service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # served by app/docs.py from vendored files instead of a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics_registry = CollectorRegistry()
    install_error_handlers(app)
    # added first so it runs inside the request context: its 401s and 413s get request ids and logs
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.uploads.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(app.state.metrics_registry))
    include_routers(app)
    install_docs(app)
    _openapi_examples_as_declared(app)
    if settings.auth.mode == "off":
        _openapi_without_auth(app)
    return app


def _openapi_examples_as_declared(app: FastAPI) -> None:
    """Each response schema in the document shows its model's examples as the model writes them.

    FastAPI writes the document with `exclude_none`, which strips every `null` from an example
    (a required field left out, so the example no longer fits its own schema), and pydantic
    sorts their keys: both would turn a realistic answer into one the service never sends.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.get("components", {}).get("schemas", {})
            for path, method, status, model in response_models(app):
                operation = schema["paths"].get(path, {}).get(method, {})
                content = operation.get("responses", {}).get(status, {}).get("content") or {}
                ref = content.get("application/json", {}).get("schema", {}).get("$ref")
                if ref and (examples := declared_examples(model)):
                    components[ref.rsplit("/", 1)[-1]]["examples"] = examples
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def response_models(app: FastAPI) -> Iterator[tuple[str, str, str, type[BaseModel]]]:
    """(path, method, status, model) for each documented route with a `response_model`."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
            model = route.response_model
            if isinstance(model, type) and issubclass(model, BaseModel):
                for method in route.methods:
                    yield context.path_format, method.lower(), str(route.status_code or 200), model


def _openapi_without_auth(app: FastAPI) -> None:
    """With auth off, the document says so: no Bearer scheme, no per-operation security, no 401s.

    Clients generated from it, Swagger UI's Authorize button and Schemathesis would
    otherwise expect a key the server never asks for.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.get("components", {}).pop("securitySchemes", None)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation.pop("security", None)
                    operation.get("responses", {}).pop("401", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
