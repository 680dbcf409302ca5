"""Deployments: placement on GPUs and a port, the model-server command, and the process life cycle."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.gpus import service as gpus_service
from src.features.models.service import ModelSources
from src.features.runs import service as runs_service
from src.features.runs.workspace import TrainingLayout, fill_placeholders
from src.models.deployments import (
    ACTIVE_DEPLOYMENT_STATUSES,
    DeploymentCreate,
    DeploymentInfo,
    DeploymentStatus,
)
from src.models.errors import Conflict, Invalid, NotFound
from src.models.runs import RunStatus
from src.storage.tables import Deployment, PortLease
from src.storage.types import utcnow

SHELL_SYNTAX = set(";|&$`<>\n(){}*?!")
PLACEMENT_FLAGS = {"--host", "--port", "--tensor-parallel-size", "-tp", "--model", "--served-model-name"}


@dataclass(frozen=True)
class DeploySetup:
    command: list[str]
    ports: range
    host: str
    logs_dir: Path
    models: ModelSources
    layout: TrainingLayout
    gpu_ids: list[str]


def new_deployment_id() -> str:
    return "dep-" + secrets.token_hex(6)


def check_extra_args(extra_args: str | None, *, template: list[str]) -> list[str]:
    """shlex-split extra arguments; refuse shell syntax and flags the service or the template sets."""
    if not extra_args:
        return []
    if set(extra_args) & SHELL_SYNTAX:
        raise Invalid(
            "extra_args may not contain shell syntax (; | & $ ` < > and the like)", param="extra_args"
        )
    try:
        tokens = shlex.split(extra_args)
    except ValueError as exc:
        raise Invalid(f"extra_args cannot be parsed: {exc}", param="extra_args") from exc
    reserved = PLACEMENT_FLAGS | {t for t in template if t.startswith("-")}
    for token in tokens:
        flag = token.split("=", 1)[0]
        if flag in reserved:
            raise Invalid(f"extra_args may not set {flag}: the service sets it", param="extra_args")
    return tokens


def _model_and_adapter(
    session: Session, *, principal: Principal, data: DeploymentCreate, setup: DeploySetup
) -> tuple[Path, Path | None]:
    """The weights to serve, and a LoRA adapter to put on them when a run produced one."""
    path = _model_path(session, principal=principal, data=data, setup=setup)
    adapter = path / "adapter_config.json"
    if (path / "config.json").is_file() or not adapter.is_file():
        return path, None
    try:
        base = Path(json.loads(adapter.read_text())["base_model_name_or_path"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid(f"{path} holds a LoRA adapter without a usable base model", param="run_id") from exc
    if not (base / "config.json").is_file():
        raise Invalid(f"the adapter's base model {base} is not on this host", param="run_id")
    return base.resolve(), path


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
    for option in options:
        resolved = option.resolve()
        if any(resolved.is_relative_to(root) for root in roots) and (resolved / "config.json").is_file():
            return resolved
    raise Invalid(
        f"model_path {data.model_path!r} is not a model directory under TUNING_MODEL_ROOTS",
        param="model_path",
    )


def _place_gpus(session: Session, *, data: DeploymentCreate, setup: DeploySetup) -> list[str]:
    if data.gpu_count == 0:
        return []
    free = gpus_service.free_gpus(session, gpu_ids=setup.gpu_ids)
    if data.preferred_gpu is not None:
        if data.preferred_gpu not in setup.gpu_ids:
            raise Invalid(
                f"GPU {data.preferred_gpu!r} is not in the inventory {setup.gpu_ids}", param="preferred_gpu"
            )
        if data.preferred_gpu not in free:
            raise Conflict(
                f"GPU {data.preferred_gpu} is taken; held: {gpus_service.describe_holders(session)}",
                param="preferred_gpu",
                code="gpu_taken",
            )
        free = [data.preferred_gpu] + [g for g in free if g != data.preferred_gpu]
    if len(free) < data.gpu_count:
        raise Conflict(
            f"{data.gpu_count} free GPU(s) needed, {len(free)} free; held: "
            f"{gpus_service.describe_holders(session)}",
            param="gpu_count",
            code="gpus_taken",
        )
    return free[: data.gpu_count]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # as servers do (uvicorn, http.server): a port whose old connections sit in TIME_WAIT is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _lease_port(session: Session, *, deployment_id: str, setup: DeploySetup) -> int:
    """The first free port in the range that binds; the lease table keeps it exclusive."""
    held = set(session.scalars(select(PortLease.port)))
    for port in setup.ports:
        if port in held or not _port_is_free(setup.host, port):
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
    extra = check_extra_args(data.extra_args, template=setup.command)
    model_path, adapter = _model_and_adapter(session, principal=principal, data=data, setup=setup)
    gpu_ids = _place_gpus(session, data=data, setup=setup)
    deployment_id = new_deployment_id()
    try:
        with session.begin_nested():
            gpus_service.acquire(session, gpu_ids=gpu_ids, holder_type="deployment", holder_id=deployment_id)
    except IntegrityError as exc:
        raise Conflict(
            "the GPUs were taken a moment ago; try again", param="gpu_count", code="gpus_taken"
        ) from exc
    port = _lease_port(session, deployment_id=deployment_id, setup=setup)
    name = data.served_model_name or data.model_version or (adapter or model_path).name
    # with an adapter, the base model is served as `<name>-base` and the adapter as `name`
    served = f"{name}-base" if adapter else name
    argv = fill_placeholders(
        setup.command,
        {"model": str(model_path), "host": setup.host, "port": str(port), "served_model_name": served},
    )
    if adapter is not None:
        argv += ["--enable-lora", "--lora-modules", f"{name}={adapter}"]
    if len(gpu_ids) > 1:
        argv += ["--tensor-parallel-size", str(len(gpu_ids))]
    deployment = Deployment(
        id=deployment_id,
        owner=principal.owner,
        model_path=str(model_path),
        model_version=data.model_version,
        served_model_name=name,
        run_id=data.run_id,
        tags=data.tags,
        extra_args=extra,
        gpu_ids=gpu_ids,
        port=port,
        status=DeploymentStatus.starting.value,
        command=argv + extra,
        log_file=str(setup.logs_dir / f"{deployment_id}.log"),
        health_path=data.health_path,
        base_url=f"http://{setup.host}:{port}",
    )
    session.add(deployment)
    session.flush()
    return deployment


def get(session: Session, *, deployment_id: str, principal: Principal) -> Deployment:
    deployment = session.get(Deployment, deployment_id)
    if deployment is None or (
        principal.owner_scope is not None and deployment.owner != principal.owner_scope
    ):
        raise NotFound(f"deployment {deployment_id!r} not found", param="deployment_id")
    return deployment


def list_all(
    session: Session,
    *,
    principal: Principal,
    model: str | None,
    tag: str | None,
    status: DeploymentStatus | None,
) -> list[Deployment]:
    stmt = select(Deployment).order_by(Deployment.created_at.desc())
    if principal.owner_scope is not None:
        stmt = stmt.where(Deployment.owner == principal.owner_scope)
    if status is not None:
        stmt = stmt.where(Deployment.status == status.value)
    rows = list(session.scalars(stmt))
    if model is not None:
        rows = [d for d in rows if model in (d.served_model_name, d.model_path, d.model_version)]
    if tag is not None:
        rows = [d for d in rows if tag in d.tags]
    return rows


def release(session: Session, *, deployment: Deployment) -> None:
    gpus_service.release(session, holder_type="deployment", holder_id=deployment.id)
    session.execute(PortLease.__table__.delete().where(PortLease.deployment_id == deployment.id))


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def is_alive(pid: int | None, *, command: list[str]) -> bool:
    """The process is running (not a zombie) and is the command we started (pid reuse is not)."""
    if pid is None:
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and [part.decode() for part in cmdline if part] == command


def stop_process(pid: int | None, *, command: list[str], grace: float) -> None:
    """TERM the process group, then KILL after `grace` seconds (at once when grace is 0)."""
    if not is_alive(pid, command=command):
        return
    assert pid is not None
    signal_group(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_alive(pid, command=command):
        time.sleep(0.05)
    if is_alive(pid, command=command):
        signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_alive(pid, command=command):
            time.sleep(0.05)


def launch(deployment: Deployment) -> subprocess.Popen[bytes]:
    """Start the server in its own session with CUDA_VISIBLE_DEVICES from the placement; output to its log."""
    log_path = Path(deployment.log_file)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNING_", "TRAINING_DB_URL"))}
    env["CUDA_VISIBLE_DEVICES"] = ",".join(deployment.gpu_ids)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            deployment.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return process


def log_tail(deployment: Deployment, *, lines: int) -> list[str]:
    path = Path(deployment.log_file)
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        return [line.decode("utf-8", "replace") for line in handle.read().splitlines()[-lines:]]


def to_info(deployment: Deployment) -> DeploymentInfo:
    return DeploymentInfo(
        deployment_id=deployment.id,
        model_path=deployment.model_path,
        model_version=deployment.model_version,
        served_model_name=deployment.served_model_name,
        run_id=deployment.run_id,
        tags=deployment.tags,
        gpu_id=deployment.gpu_ids[0] if deployment.gpu_ids else None,
        gpu_ids=deployment.gpu_ids,
        port=deployment.port,
        pid=deployment.pid,
        status=DeploymentStatus(deployment.status),
        started_at=deployment.started_at,
        stopped_at=deployment.stopped_at,
        health_ok=deployment.health_ok,
        vllm_cmd=shlex.join(deployment.command),
        log_file=f"deploy_logs/{deployment.id}.log",
        health_path=deployment.health_path,
        base_url=deployment.base_url,
        error=deployment.error,
        exit_code=deployment.exit_code,
    )


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
