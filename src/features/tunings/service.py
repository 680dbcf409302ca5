"""Tuning jobs: a run of the bundled trainer (or any configured command) with a rendered YAML."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, defer, joinedload

from src.features.auth.service import Principal
from src.features.datasets.uploads import DatasetFiles
from src.features.models import service as models_service
from src.features.runs import service as runs_service
from src.features.runs.artifacts import is_checkpoint
from src.features.runs.workspace import TrainingLayout
from src.features.train_configs import service as train_configs_service
from src.features.train_configs.service import ConfigFiles
from src.models.errors import Conflict, Invalid
from src.models.projects import ProjectStatus
from src.models.runs import Executor, RunCreate, RunStatus
from src.models.tunings import (
    Hyperparameters,
    TuningCreate,
    TuningError,
    TuningJobList,
    TuningJobRead,
    TuningMetrics,
)
from src.storage.scoping import OwnedQuery, ensure_owned, owned
from src.storage.tables import Project, Run, RunArtifact, RunMetric, TuningJob
from src.storage.types import utcnow


@dataclass(frozen=True)
class TuningSetup:
    """Plain values a tuning job needs from settings."""

    layout: TrainingLayout
    models: models_service.ModelSources
    command: list[str]
    executor: str
    dataset_files: DatasetFiles
    config_files: ConfigFiles
    max_yaml_bytes: int


def new_job_id() -> str:
    return "job-" + secrets.token_hex(6)


def parse_hyperparameters(raw: dict[str, Any]) -> Hyperparameters:
    """Known hyperparameters with their checks; unknown keys and bad values are a 400 naming them."""
    try:
        return Hyperparameters.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        unknown = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            allowed = ", ".join(Hyperparameters.model_fields)
            raise Invalid(
                f"unknown hyperparameter(s) {unknown}; allowed: {allowed}",
                param=f"hyperparameters.{unknown[0]}",
            ) from exc
        raise Invalid(f"hyperparameters.{name}: {first['msg']}", param=f"hyperparameters.{name}") from exc


def render_yaml(*, model_path: Path, params: Hyperparameters, seed: int | None) -> str:
    """The LLaMA-Factory-style YAML the trainer reads (the dataset comes from the run's staging)."""
    document: dict[str, Any] = {
        "model_name_or_path": str(model_path),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": params.finetuning_type,
        "lora_rank": params.rank,
        "lora_alpha": params.alpha or 2 * params.rank,
        "lora_dropout": params.lora_dropout,
        "num_train_epochs": params.epochs,
        "learning_rate": params.learning_rate,
        "per_device_train_batch_size": params.batch_size,
        "gradient_accumulation_steps": params.gradient_accumulation_steps,
        "cutoff_len": params.cutoff_len,
        "logging_steps": params.logging_steps,
        "output_dir": "output",
        "save_strategy": "epoch",
        "save_total_limit": 3,
        "seed": seed if seed is not None else 42,
    }
    if params.use_quantization:
        document["quantization_bit"] = 4
    return yaml.safe_dump(document, sort_keys=False)


def _owner_project(session: Session, *, principal: Principal) -> Project:
    """The project that holds the caller's tuning runs, found by its owner and made on first use.

    Never found by name: project names are global, so another owner could create any
    name first. The name only labels it; a slug plus a digest of the owner keeps
    `dave.x` and `Dave-X` apart, and a squatted name gets a random suffix.
    """
    owner = principal.owner
    existing = session.scalar(select(Project).where(Project.tunings_owner == owner))
    if existing is not None:
        return existing
    slug = re.sub(r"[^a-z0-9_-]", "-", owner.lower())[:40]
    base = f"tunings-{slug}-{hashlib.sha256(owner.encode()).hexdigest()[:8]}"
    for name in (base, f"{base}-{secrets.token_hex(3)}", f"{base}-{secrets.token_hex(3)}"):
        if session.scalar(select(Project.id).where(Project.name == name)) is not None:
            continue
        project = Project(
            name=name,
            description="runs of tuning jobs",
            owner=owner,
            tunings_owner=owner,
            status=ProjectStatus.active.value,
        )
        session.add(project)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            if project in session:
                session.expunge(project)
            # a concurrent create of this owner's project won, or the name was just taken
            existing = session.scalar(select(Project).where(Project.tunings_owner == owner))
            if existing is not None:
                return existing
            continue
        return project
    raise Conflict("could not name the tuning project; try again", code="tunings_project_busy")


def create(
    session: Session,
    *,
    principal: Principal,
    data: TuningCreate,
    setup: TuningSetup,
    idempotency_key: str | None = None,
) -> TuningJob:
    """Check the model and hyperparameters, render the YAML, and queue the run.

    A repeated create with the same `idempotency_key` (per owner) returns the first job.
    """
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, owner=principal.owner, key=idempotency_key)
        if existing is not None:
            return existing
    model_path = models_service.resolve(data.model, sources=setup.models)
    if model_path is None:
        raise Invalid(
            f"unknown model {data.model!r}: not in TUNING_MODEL_CATALOG "
            "and no such directory under TUNING_MODEL_ROOTS",
            param="model",
            code="model_not_found",
        )
    params = parse_hyperparameters(data.hyperparameters)
    job_id = new_job_id()
    config = train_configs_service.create(
        session,
        principal=principal,
        filename=f"{job_id}.yaml",
        content=render_yaml(model_path=model_path, params=params, seed=data.seed).encode(),
        files=setup.config_files,
        max_bytes=setup.max_yaml_bytes,
    )
    run = runs_service.create(
        session,
        spec=runs_service.RunSpec(
            project=_owner_project(session, principal=principal),
            principal=principal,
            data=RunCreate(
                dataset=data.training_file,
                train_config=config.id,
                gpus=data.gpus,
                executor=Executor(setup.executor),
            ),
            command_template=setup.command,
            in_workspace=True,
            dataset_field="training_file",
        ),
        layout=setup.layout,
        dataset_files=setup.dataset_files,
        config_files=setup.config_files,
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    job = TuningJob(
        id=job_id,
        run_id=run.id,
        owner=principal.owner,
        model=data.model,
        training_file=data.training_file,
        validation_file=data.validation_file,
        hyperparameters=params.model_dump(),
        suffix=data.suffix,
        seed=data.seed,
        fine_tuned_model="-".join(p for p in (data.model, data.suffix, stamp) if p),
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        # a concurrent create with the same key won; answer with its job
        existing = _by_idempotency_key(session, owner=principal.owner, key=idempotency_key or "")
        if existing is None:
            raise
        return existing
    return job


def _by_idempotency_key(session: Session, *, owner: str, key: str) -> TuningJob | None:
    return session.scalar(select(TuningJob).where(TuningJob.owner == owner, TuningJob.idempotency_key == key))


# A job's answer never shows its run's command, env, GPUs or log tail: reads leave those JSON
# columns undecoded (and raise, rather than query once per row, if one is touched after all).
FOR_READ = joinedload(TuningJob.run).options(
    *(defer(column, raiseload=True) for column in (Run.command, Run.env, Run.gpu_ids, Run.error_tail))
)
_BY_ID = select(TuningJob).where(TuningJob.id == bindparam("job_id"))
_BY_ID_TO_CHANGE = OwnedQuery(_BY_ID, TuningJob)
_BY_ID_TO_READ = OwnedQuery(_BY_ID.options(FOR_READ), TuningJob)


def get(session: Session, *, job_id: str, principal: Principal, for_read: bool = False) -> TuningJob:
    """The job (its run loaded with it), or 404 when it does not exist or belongs to another owner.

    `for_read`: the job will only be shown (`FOR_READ`), not changed.
    """
    query = _BY_ID_TO_READ if for_read else _BY_ID_TO_CHANGE
    job = query.execute(session, principal, job_id=job_id).scalar_one_or_none()
    return ensure_owned(job, principal, what=f"tuning job {job_id!r}", param="id")


def get_read(session: Session, *, job_id: str, principal: Principal) -> TuningJobRead:
    """`get` as the API answers it."""
    return to_read(session, job=get(session, job_id=job_id, principal=principal, for_read=True))


def page(session: Session, *, principal: Principal, limit: int, **filters: Any) -> TuningJobList:
    """`list_page` as the API answers it."""
    jobs, has_more = list_page(session, principal=principal, limit=limit, **filters)
    return TuningJobList(data=to_reads(session, jobs=jobs), has_more=has_more)


def list_page(
    session: Session,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    status: RunStatus | None = None,
) -> tuple[list[TuningJob], bool]:
    """Newest first, to be shown (`FOR_READ`); `after` is the id of the last job seen."""
    stmt = owned(select(TuningJob).options(FOR_READ), TuningJob, principal)
    stmt = stmt.order_by(TuningJob.created_at.desc(), TuningJob.id.desc()).limit(limit + 1)
    if status is not None:
        stmt = stmt.join(Run, Run.id == TuningJob.run_id).where(Run.status == status.value)
    if after is not None:
        cursor = get(session, job_id=after, principal=principal)
        stmt = stmt.where(
            (TuningJob.created_at < cursor.created_at)
            | ((TuningJob.created_at == cursor.created_at) & (TuningJob.id < cursor.id))
        )
    rows = list(session.scalars(stmt))
    return rows[:limit], len(rows) > limit


def cancel(session: Session, *, job: TuningJob) -> TuningJob:
    """Cancel the job's run; a finished job is a 400 (OpenAI's client retries 409)."""
    try:
        runs_service.cancel(session, run=job.run)
    except Invalid as exc:
        if exc.code != "run_finished":
            raise
        raise Invalid(
            f"tuning job {job.id} is already {job.run.status}; only queued or running jobs can be cancelled",
            param="id",
            code="job_finished",
        ) from exc
    return job


def delete(session: Session, *, job: TuningJob) -> None:
    """Delete a finished job with its run, logs, metrics and workspace."""
    run = job.run
    if not runs_service.delete(session, run=run):
        raise Invalid(f"tuning job {job.id} is {run.status}; cancel it before deleting it", param="id")


def metric_points(session: Session, *, job: TuningJob) -> list[RunMetric]:
    return runs_service.metrics(session, run=job.run)


def final_artifacts(session: Session, *, job: TuningJob) -> list[RunArtifact]:
    """The run's files outside its `checkpoint-<step>/` folders: the model it ends with."""
    # by path, not kind: rows written before the kind rule was fixed call a checkpoint's adapter "adapter"
    return [a for a in runs_service.artifacts(session, run=job.run) if not is_checkpoint(a.path)]


def checkpoints(session: Session, *, job: TuningJob) -> list[RunArtifact]:
    return [a for a in runs_service.artifacts(session, run=job.run) if is_checkpoint(a.path)]


def _newest(column: InstrumentedAttribute[float | None]) -> Select[tuple[str, float]]:
    """Each run's newest non-null `column`, for the runs bound as `run_ids`."""
    # the reverse of runs_service.metrics' order: points without a step count as the newest
    newest_first = (RunMetric.step.desc().nulls_first(), RunMetric.id.desc())
    rank = func.row_number().over(partition_by=RunMetric.run_id, order_by=newest_first)
    ranked = (
        select(RunMetric.run_id, column.label("value"), rank.label("rank"))
        .where(RunMetric.run_id.in_(bindparam("run_ids", expanding=True)), column.is_not(None))
        .subquery()
    )
    return select(ranked.c.run_id, ranked.c.value).where(ranked.c.rank == 1)


_NEWEST_LOSSES = (_newest(RunMetric.loss), _newest(RunMetric.eval_loss))
_ARTIFACT_PATHS = (
    select(RunArtifact.run_id, RunArtifact.path)
    .where(RunArtifact.run_id.in_(bindparam("run_ids", expanding=True)))
    .order_by(RunArtifact.path)
)


def latest_losses(session: Session, *, run_ids: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """Each run's last training loss and last eval loss, in `runs_service.metrics` order: two queries."""
    losses: dict[str, tuple[float | None, float | None]] = {}
    if not run_ids:
        return losses
    for slot, newest in enumerate(_NEWEST_LOSSES):
        for run_id, value in session.execute(newest, {"run_ids": run_ids}):
            pair = list(losses.get(run_id, (None, None)))
            pair[slot] = value
            losses[run_id] = (pair[0], pair[1])
    return losses


def result_paths(session: Session, *, run_ids: list[str]) -> dict[str, list[str]]:
    """Each run's final files (see `final_artifacts`), by path, in one query."""
    paths: dict[str, list[str]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return paths
    for run_id, path in session.execute(_ARTIFACT_PATHS, {"run_ids": run_ids}):
        if not is_checkpoint(path):
            paths[run_id].append(path)
    return paths


def _metrics(job: TuningJob, *, losses: tuple[float | None, float | None] | None) -> TuningMetrics | None:
    """None until the first training metrics with a loss arrive."""
    run = job.run
    if losses is None and run.status != RunStatus.succeeded.value:
        return None
    train, evaluation = losses or (None, None)
    return TuningMetrics(
        train_loss=train,
        eval_loss=evaluation,
        current_epoch=run.epoch,
        total_epochs=job.hyperparameters.get("epochs"),
        current_step=run.current_step,
        total_steps=run.total_steps,
        progress=run.progress,
    )


def to_read(session: Session, *, job: TuningJob) -> TuningJobRead:
    return to_reads(session, jobs=[job])[0]


def to_reads(session: Session, *, jobs: list[TuningJob]) -> list[TuningJobRead]:
    """Jobs as the API shows them, in a fixed number of queries whatever their number."""
    run_ids = [job.run_id for job in jobs]
    losses = latest_losses(session, run_ids=run_ids)
    paths = result_paths(session, run_ids=run_ids)
    positions = runs_service.queue_positions(session, runs=[job.run for job in jobs])
    return [
        _job_read(
            job,
            metrics=_metrics(job, losses=losses.get(job.run_id)),
            result_files=paths[job.run_id],
            queue_position=positions[job.run_id],
        )
        for job in jobs
    ]


def _job_read(
    job: TuningJob, *, metrics: TuningMetrics | None, result_files: list[str], queue_position: int | None
) -> TuningJobRead:
    run = job.run
    error = None
    if run.failure_cause is not None and run.status == RunStatus.failed.value:
        error = TuningError(code=run.failure_cause, message=run.error_message or run.failure_cause)
    duration = None
    if run.started_at is not None:
        duration = ((run.finished_at or utcnow()) - run.started_at).total_seconds()
    return TuningJobRead(
        id=job.id,
        model=job.model,
        status=RunStatus(run.status),
        created_at=job.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        training_file=job.training_file,
        validation_file=job.validation_file,
        hyperparameters=job.hyperparameters,
        metrics=metrics,
        summary=run.summary,
        result_files=result_files,
        fine_tuned_model=job.fine_tuned_model if run.status == RunStatus.succeeded.value else None,
        error=error,
        duration=duration,
        queue_position=queue_position,
        run_id=run.id,
    )


def fine_tuned_models(session: Session, *, principal: Principal) -> list[TuningJob]:
    """Jobs that produced a model the caller may see."""
    stmt = (
        select(TuningJob).join(Run, Run.id == TuningJob.run_id).where(Run.status == RunStatus.succeeded.value)
    )
    return list(session.scalars(owned(stmt, TuningJob, principal).order_by(TuningJob.created_at)))


def by_fine_tuned_model(session: Session, *, name: str, principal: Principal) -> TuningJob | None:
    """The caller's job whose model is called `name` (the newest if several), whatever its status."""
    stmt = owned(select(TuningJob).where(TuningJob.fine_tuned_model == name), TuningJob, principal)
    return session.scalars(stmt.order_by(TuningJob.created_at.desc()).limit(1)).first()
