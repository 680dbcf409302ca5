"""Deployments: placement on GPUs and a port, the model-server command, and the process life cycle."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shlex
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.deployments.server_args import CONTROL_CHARACTERS, ArgsPolicy, check_extra_args
from src.features.gpus import service as gpus_service
from src.features.models import service as models_service
from src.features.models.service import ModelSources
from src.features.runs import service as runs_service
from src.features.runs.workspace import TrainingLayout
from src.features.tinker import service as tinker_service
from src.features.tunings import service as tunings_service
from src.models.deployments import (
    ACTIVE_DEPLOYMENT_STATUSES,
    DeploymentCreate,
    DeploymentInfo,
    DeploymentStatus,
)
from src.models.errors import Conflict, Invalid, NotFound
from src.models.runs import RunStatus
from src.storage import Store
from src.storage.scoping import get_owned, owned
from src.storage.tables import Deployment, PortLease
from src.storage.types import utcnow
from src.utils import processes
from src.utils.argv import fill_placeholders
from src.utils.child_user import ChildUser
from src.utils.ports import port_is_free

UPSTREAM_KEY_ENV = "VLLM_API_KEY"  # vLLM reads its --api-key from here too; argv is world-readable in /proc


@dataclass(frozen=True)
class DeploySetup:
    command: list[str]
    ports: range
    host: str
    logs_dir: Path
    models: ModelSources
    layout: TrainingLayout
    gpu_ids: list[str]
    upstream_secret: str = ""
    trust_remote_code: bool = False
    executor: str = "local"  # slurm: each server is a Slurm job that Slurm places

    @property
    def on_slurm(self) -> bool:
        return self.executor == "slurm"

    @property
    def slurm_dir(self) -> Path:
        """Where Slurm servers keep their logs and launchers: the training directory is shared with nodes."""
        return self.layout.training_dir / "deployments"

    @cached_property
    def shown_bases(self) -> list[PurePosixPath]:
        """Where host paths are shown relative to, the most specific first."""
        bases = [self.logs_dir.parent, self.layout.training_dir, *self.models.roots]
        return sorted({PurePosixPath(base.resolve()) for base in bases}, key=lambda b: -len(b.parts))

    @property
    def args_policy(self) -> ArgsPolicy:
        return ArgsPolicy(
            model_roots=self.models.roots, template=self.command, trust_remote_code=self.trust_remote_code
        )


def new_deployment_id() -> str:
    return "dep-" + secrets.token_hex(6)


def upstream_key(secret: str, *, deployment_id: str) -> str:
    """The API key a deployment's server demands: derived from the service's secret, never stored or shown."""
    return hmac.new(secret.encode(), f"deployment:{deployment_id}".encode(), hashlib.sha256).hexdigest()


def upstream_path(path: str) -> str:
    """`/v1/<path>` with percent-escapes and dot segments resolved first; a path that leaves /v1 is a 404."""
    decoded = path
    for _ in range(4):  # %252e%252e is %2e%2e is ..
        decoded, previous = unquote(decoded), decoded
        if decoded == previous:
            break
    parts: list[str] = []
    for part in PurePosixPath("/v1", decoded).parts[1:]:
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
    if decoded != previous or parts[:1] != ["v1"] or "\\" in decoded or CONTROL_CHARACTERS.search(decoded):
        raise NotFound("the proxy forwards only /v1/… paths", param="path", code="proxy_path")
    return quote("/" + "/".join(parts), safe="/:@-._~!$&'()*+,;=")


def _with_fine_tuned_model(
    session: Session, *, principal: Principal, data: DeploymentCreate
) -> DeploymentCreate:
    """A `model_path` that names one of the caller's fine-tuned models deploys that job's run.

    The served name defaults to the fine-tuned model's name, so the OpenAI client calls
    it by the name the fine-tuning job answered.
    """
    if data.model_path is None or data.run_id is not None or data.checkpoint is not None:
        return data
    job = tunings_service.by_fine_tuned_model(session, name=data.model_path, principal=principal)
    if job is None:
        return data
    if job.run.status != RunStatus.succeeded.value:
        raise Invalid(
            f"fine-tuning job {job.id} is {job.run.status}; only a succeeded job's model can be deployed",
            param="model_path",
        )
    return data.model_copy(
        update={
            "model_path": None,
            "run_id": job.run_id,
            "served_model_name": data.served_model_name or job.fine_tuned_model,
        }
    )


def _model_and_adapter(
    session: Session, *, principal: Principal, data: DeploymentCreate, setup: DeploySetup
) -> tuple[Path, Path | None]:
    """The weights to serve, and a LoRA adapter to put on them when a run produced one."""
    if data.checkpoint is not None:
        if data.model_path is not None or data.run_id is not None:
            raise Invalid("give one of model_path, run_id and checkpoint", param="checkpoint")
        return _checkpoint_model(session, principal=principal, path=data.checkpoint, setup=setup)
    path = _model_path(session, principal=principal, data=data, setup=setup)
    adapter = path / "adapter_config.json"
    if (path / "config.json").is_file() or not adapter.is_file():
        return path, None
    try:
        base_name = json.loads(adapter.read_text())["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Invalid(
            f"run {data.run_id} holds a LoRA adapter without a usable base model", param="run_id"
        ) from exc
    base = _adapter_base(base_name, models=setup.models) if isinstance(base_name, str) else None
    if base is None:
        raise Invalid(
            f"the adapter's base model {str(base_name)[:200]!r} is not a model directory under "
            "TUNING_MODEL_ROOTS or in the model catalog",
            param="run_id",
        )
    return base, path


def _checkpoint_model(
    session: Session, *, principal: Principal, path: str, setup: DeploySetup
) -> tuple[Path, Path]:
    """An interactive run's saved adapter (the caller's, by its `tinker://` path) and its base model."""
    checkpoint = tinker_service.checkpoint_by_path(
        session, path=path, principal=principal, param="checkpoint"
    )
    adapter = Path(checkpoint.path)
    if not (adapter / "adapter_config.json").is_file():
        raise Invalid(f"the files of {path} are gone from the server", param="checkpoint")
    base_name = tinker_service.base_model_of(session, checkpoint)
    base = models_service.resolve(base_name, sources=setup.models)
    if base is None:
        raise Invalid(
            f"the base model {base_name!r} of {path} is no longer on this server", param="checkpoint"
        )
    return base, adapter


def _adapter_base(name: str, *, models: ModelSources) -> Path | None:
    """The adapter's base model, only where the admin keeps models: under the roots or in the catalog."""
    if CONTROL_CHARACTERS.search(name):
        return None
    if not Path(name).is_absolute():
        return models_service.resolve(name, sources=models)
    try:
        resolved = Path(name).resolve()
    except (OSError, RuntimeError):
        return None
    roots = [root.resolve() for root in models.roots]
    catalog = {path.resolve() for path in models.catalog.values()}
    inside = resolved in catalog or any(resolved.is_relative_to(root) for root in roots)
    return resolved if inside and (resolved / "config.json").is_file() else None


def _model_path(
    session: Session, *, principal: Principal, data: DeploymentCreate, setup: DeploySetup
) -> Path:
    if data.run_id is not None:
        run = runs_service.get(session, run_id=data.run_id, principal=principal)
        if run.status != RunStatus.succeeded.value or not run.output_dir:
            raise Invalid(
                f"run {run.id} is {run.status}; only a succeeded run's output can be deployed", param="run_id"
            )
        host_output = setup.layout.host_path_of(run.executor, run.output_dir)
        if host_output is None or not host_output.is_dir():
            raise Invalid(f"run {run.id} left no output directory on this host", param="run_id")
        if not any((host_output / name).is_file() for name in ("config.json", "adapter_config.json")):
            raise Invalid(f"run {run.id}'s output holds neither weights nor a LoRA adapter", param="run_id")
        return host_output
    if not data.model_path:
        raise Invalid("give model_path or run_id", param="model_path")
    candidate = Path(data.model_path)
    roots = [r.resolve() for r in setup.models.roots]
    options = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    if CONTROL_CHARACTERS.search(data.model_path):
        options = []  # a NUL never names a file; the OS would refuse it with a ValueError
    for option in options:
        try:
            resolved = option.resolve()
        except (OSError, RuntimeError):
            continue  # a symlink loop, a name too long
        if any(resolved.is_relative_to(root) for root in roots) and (resolved / "config.json").is_file():
            return resolved
    raise Invalid(
        f"model_path {data.model_path!r} is not a model directory under TUNING_MODEL_ROOTS",
        param="model_path",
    )


def _place_gpus(
    session: Session, *, principal: Principal, data: DeploymentCreate, setup: DeploySetup
) -> list[str]:
    if setup.on_slurm:
        if data.preferred_gpu is not None:
            raise Invalid(
                "model servers are placed by Slurm (TUNING_DEPLOY_EXECUTOR=slurm), which cannot be told "
                "to use one GPU; leave out preferred_gpu",
                param="preferred_gpu",
            )
        return []  # recorded as `node:index` once Slurm has placed the job
    if data.gpu_count == 0:
        return []
    free = gpus_service.free_gpus(session, gpu_ids=setup.gpu_ids)
    scope = principal.owner_scope  # a user's message names only its own holders
    if data.preferred_gpu is not None:
        preferred = str(data.preferred_gpu)  # the seed sends the index `0`; the ledger names it "0"
        if preferred not in setup.gpu_ids:
            raise Invalid(f"GPU {preferred!r} is not in the inventory {setup.gpu_ids}", param="preferred_gpu")
        if preferred not in free:
            raise Conflict(
                f"GPU {preferred} is taken; held: "
                f"{gpus_service.describe_holders(session, owner_scope=scope)}",
                param="preferred_gpu",
                code="gpu_taken",
            )
        free = [preferred] + [g for g in free if g != preferred]
    if len(free) < data.gpu_count:
        held = gpus_service.describe_holders(session, owner_scope=scope)
        raise Conflict(
            f"{data.gpu_count} free GPU(s) needed, {len(free)} free; held: {held}",
            param="gpu_count",
            code="gpus_taken",
        )
    return free[: data.gpu_count]


def _lease_port(session: Session, *, deployment_id: str, setup: DeploySetup) -> int:
    """The first free port in the range that binds; the lease table keeps it exclusive."""
    held = set(session.scalars(select(PortLease.port)))
    for port in setup.ports:
        # a Slurm server binds on its node, which this host cannot check; the lease keeps ports apart
        if port in held or (not setup.on_slurm and not port_is_free(setup.host, port)):
            continue
        try:
            with session.begin_nested():
                session.add(PortLease(port=port, deployment_id=deployment_id))
                session.flush()
        except IntegrityError:
            continue  # another deployment took it a moment ago
        return port
    raise Conflict(f"no free port in {setup.ports.start}-{setup.ports.stop - 1}", code="no_free_port")


def create(
    session: Session, *, principal: Principal, data: DeploymentCreate, setup: DeploySetup
) -> Deployment:
    """Place the deployment and record it as `starting`; the manager starts the process."""
    extra = check_extra_args(data.extra_args, policy=setup.args_policy)
    data = _with_fine_tuned_model(session, principal=principal, data=data)
    model_path, adapter = _model_and_adapter(session, principal=principal, data=data, setup=setup)
    gpu_ids = _place_gpus(session, principal=principal, data=data, setup=setup)
    deployment_id = new_deployment_id()
    try:
        with session.begin_nested():
            gpus_service.acquire(session, gpu_ids=gpu_ids, holder_type="deployment", holder_id=deployment_id)
    except IntegrityError as exc:
        raise Conflict(
            "the GPUs were taken a moment ago; try again", param="gpu_count", code="gpus_taken"
        ) from exc
    port = _lease_port(session, deployment_id=deployment_id, setup=setup)
    default_name = data.checkpoint.rsplit("/", 1)[-1] if data.checkpoint else (adapter or model_path).name
    name = data.served_model_name or data.model_version or default_name
    # with an adapter, the base model is served as `<name>-base` and the adapter as `name`
    served = f"{name}-base" if adapter else name
    argv = fill_placeholders(
        setup.command,
        {
            "model": str(model_path),
            # on a node the server listens on its address, reached from this host
            "host": "0.0.0.0" if setup.on_slurm else setup.host,
            "port": str(port),
            "served_model_name": served,
            "health_path": data.health_path,
        },
    )
    if adapter is not None:
        argv += ["--enable-lora", "--lora-modules", f"{name}={adapter}"]
    if data.gpu_count > 1:
        argv += ["--tensor-parallel-size", str(data.gpu_count)]
    deployment = Deployment(
        id=deployment_id,
        owner=principal.owner,
        model_path=str(model_path),
        model_version=data.model_version,
        served_model_name=name,
        run_id=data.run_id,
        checkpoint=data.checkpoint,
        tags=data.tags,
        extra_args=extra,
        gpu_ids=gpu_ids,
        gpu_count=data.gpu_count,
        port=port,
        status=DeploymentStatus.starting.value,
        command=argv + extra,
        log_file=str(
            setup.slurm_dir / deployment_id / "server.log"
            if setup.on_slurm
            else setup.logs_dir / f"{deployment_id}.log"
        ),
        health_path=data.health_path,
        # a Slurm server's address is known once Slurm has placed it
        base_url="" if setup.on_slurm else f"http://{setup.host}:{port}",
        executor=setup.executor,
    )
    session.add(deployment)
    session.flush()
    return deployment


def restart_request(deployment: Deployment) -> DeploymentCreate:
    """The request that starts `deployment` again: same model, version, tags, arguments and GPU count."""
    # no validation: these values passed it when the deployment was created; create() checks them again
    return DeploymentCreate.model_construct(
        model_path=deployment.model_path
        if deployment.run_id is None and deployment.checkpoint is None
        else None,
        run_id=deployment.run_id,
        checkpoint=deployment.checkpoint,
        model_version=deployment.model_version,
        tags=deployment.tags,
        extra_args=shlex.join(deployment.extra_args) or None,
        gpu_count=deployment.gpu_count if deployment.gpu_count is not None else len(deployment.gpu_ids),
        health_path=deployment.health_path,
        served_model_name=deployment.served_model_name,
    )


def get(session: Session, *, deployment_id: str, principal: Principal) -> Deployment:
    return get_owned(session, Deployment, deployment_id, principal, what="deployment", param="deployment_id")


def list_all(
    session: Session,
    *,
    principal: Principal,
    setup: DeploySetup,
    model: str | None,
    tag: str | None,
    status: DeploymentStatus | None,
) -> list[Deployment]:
    stmt = owned(select(Deployment), Deployment, principal).order_by(Deployment.created_at.desc())
    if status is not None:
        stmt = stmt.where(Deployment.status == status.value)
    rows = list(session.scalars(stmt))
    if model is not None:
        rows = [d for d in rows if model in _model_names(d, setup=setup)]
    if tag is not None:
        rows = [d for d in rows if tag in d.tags]
    return rows


def _model_names(deployment: Deployment, *, setup: DeploySetup) -> tuple[str | None, ...]:
    """What `?model=` matches: the served name, the version, the model path as admins and users see it."""
    path = deployment.model_path
    return (deployment.served_model_name, deployment.model_version, path, shown_path(path, setup=setup))


def release(session: Session, *, deployment: Deployment) -> None:
    gpus_service.release(session, holder_type="deployment", holder_id=deployment.id)
    session.execute(PortLease.__table__.delete().where(PortLease.deployment_id == deployment.id))


def launch(deployment: Deployment, *, api_key: str, run_as: ChildUser | None = None) -> processes.Child:
    """Start the server in its own session with CUDA_VISIBLE_DEVICES from the placement; output to its log.

    The server demands `api_key` on /v1 (its /health stays open), so only the proxy can use it.
    With `run_as` (the service runs as root) it runs as that user, with a home of its own
    beside its log for the caches model servers keep.
    """
    log_path = Path(deployment.log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = processes.service_environment()
    env["CUDA_VISIBLE_DEVICES"] = ",".join(deployment.gpu_ids)
    env[UPSTREAM_KEY_ENV] = api_key
    home = None
    if run_as is not None:
        # not under the data directory, which the unprivileged user may not enter
        home = Path(tempfile.gettempdir()) / f"tuning-home-{deployment.id}"
        home.mkdir(mode=0o700, exist_ok=True)
    with log_path.open("ab") as log:
        return processes.start(deployment.command, env=env, output=log, run_as=run_as, home=home)


def log_tail(deployment: Deployment, *, lines: int) -> list[str]:
    path = Path(deployment.log_file)
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        return [line.decode("utf-8", "replace") for line in handle.read().splitlines()[-lines:]]


def shown_path(value: str, *, setup: DeploySetup) -> str:
    """A host path as a user key sees it: relative to the data directory, a model root or the training
    directory (the closest one); anywhere else, only its file name."""
    if not value.startswith("/"):
        return value
    path = PurePosixPath(value)
    for base in setup.shown_bases:
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return path.name


def _shown_argument(token: str, *, setup: DeploySetup) -> str:
    name, sep, value = token.partition("=")  # --lora-modules name=/path, --flag=/path
    if sep and value.startswith("/"):
        return f"{name}={shown_path(value, setup=setup)}"
    return shown_path(token, setup=setup)


def to_info(deployment: Deployment, *, principal: Principal, setup: DeploySetup) -> DeploymentInfo:
    """The wire form; a user key sees no absolute host path (admins see them as they are)."""
    model_path, command = deployment.model_path, deployment.command
    if not principal.is_admin:
        model_path = shown_path(model_path, setup=setup)
        command = [_shown_argument(token, setup=setup) for token in command]
    return DeploymentInfo(
        id=deployment.id,
        deployment_id=deployment.id,
        model_path=model_path,
        model_version=deployment.model_version,
        served_model_name=deployment.served_model_name,
        run_id=deployment.run_id,
        checkpoint=deployment.checkpoint,
        tags=deployment.tags,
        gpu_id=gpu_index(deployment.gpu_ids[0]) if deployment.gpu_ids else None,
        gpu_ids=deployment.gpu_ids,
        port=deployment.port,
        pid=deployment.pid,
        status=DeploymentStatus(deployment.status),
        started_at=deployment.started_at,
        stopped_at=deployment.stopped_at,
        health_ok=deployment.health_ok,
        vllm_cmd=shlex.join(command),
        log_file=f"deploy_logs/{deployment.id}.log",
        health_path=deployment.health_path,
        base_url=deployment.base_url,
        error=deployment.error,
        exit_code=deployment.exit_code,
        executor=deployment.executor,
        job_id=deployment.job_id,
        node=deployment.node,
    )


def gpu_index(gpu_id: str) -> int | str:
    """A ledger id as the seed shows `gpu_id`: the integer index when it is one ("0" is 0), else as it is."""
    canonical = gpu_id.isascii() and gpu_id.isdigit() and str(int(gpu_id)) == gpu_id  # "01" stays "01"
    return int(gpu_id) if canonical else gpu_id


def is_active(deployment: Deployment) -> bool:
    return DeploymentStatus(deployment.status) in ACTIVE_DEPLOYMENT_STATUSES


def mark_ended(
    session: Session,
    *,
    deployment: Deployment,
    status: DeploymentStatus,
    error: str | None = None,
    exit_code: int | None = None,
) -> None:
    deployment.status = status.value
    deployment.error = error
    deployment.exit_code = exit_code
    deployment.health_ok = False
    deployment.stopped_at = utcnow()
    release(session, deployment=deployment)
    session.flush()


def serving(store: Store, deployment_id: str, principal: Principal) -> Deployment:
    """The deployment the caller may use, if it is serving."""
    with store.session_scope(read_only=True) as session:
        deployment = get(session, deployment_id=deployment_id, principal=principal)
    if deployment.status not in (DeploymentStatus.running.value, DeploymentStatus.unhealthy.value):
        raise Invalid(
            f"deployment {deployment_id} is {deployment.status}, not serving", param="deployment_id"
        )
    return deployment
