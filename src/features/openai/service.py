"""The OpenAI-compatible surface over datasets, tunings and models: translation and orchestration.

No FastAPI here. A file is a dataset made from one upload, or a succeeded job's result
file; a fine-tuning job is a tuning job in OpenAI's shape; a model is a base model this
host has or a model a job produced.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.datasets import service as datasets_service
from src.features.datasets.uploads import DatasetFiles, UploadRegistry
from src.features.models import service as models_service
from src.features.models.service import ModelSources
from src.features.runs import service as runs_service
from src.features.runs.workspace import TrainingLayout
from src.features.tunings import results
from src.features.tunings import service as tunings_service
from src.features.tunings.service import TuningSetup
from src.models.datasets import DatasetCreate
from src.models.errors import Invalid, NotFound
from src.models.openai import (
    OpenAICheckpoint,
    OpenAIError,
    OpenAIEvent,
    OpenAIFile,
    OpenAIHyperparameters,
    OpenAIJob,
    OpenAIJobCreate,
    OpenAIJobList,
)
from src.models.runs import RunStatus
from src.models.tunings import ModelRead, TuningCreate
from src.storage import Store
from src.storage.tables import Dataset, RunMetric, TuningJob

# ---- translation: OpenAI's shapes of jobs, events, checkpoints and files ---------------

BASE_LEARNING_RATE = 1e-4
_STATUS = {
    "pending": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def to_tuning_create(body: OpenAIJobCreate) -> TuningCreate:
    """OpenAI's hyperparameters (each may be "auto") become the tuning job's."""
    params = body.hyperparameters
    if params is None and body.method is not None and body.method.supervised:
        raw = body.method.supervised.get("hyperparameters") or {}
        try:
            params = OpenAIHyperparameters.model_validate(raw)
        except ValueError as exc:
            raise Invalid(f"method.supervised.hyperparameters: {exc}", param="method") from exc
    hyperparameters: dict[str, Any] = {}
    if params is not None:
        if params.n_epochs != "auto":
            hyperparameters["epochs"] = params.n_epochs
        if params.batch_size != "auto":
            hyperparameters["batch_size"] = params.batch_size
        if params.learning_rate_multiplier != "auto":
            hyperparameters["learning_rate"] = BASE_LEARNING_RATE * params.learning_rate_multiplier
    return TuningCreate(
        model=body.model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        hyperparameters=hyperparameters,
        suffix=body.suffix,
        seed=body.seed,
    )


def get_openai_job(session: Session, *, job_id: str, principal: Principal) -> OpenAIJob:
    job = tunings_service.get(session, job_id=job_id, principal=principal, for_read=True)
    return to_openai_job(session, job=job)


def job_page(session: Session, *, principal: Principal, limit: int, after: str | None) -> OpenAIJobList:
    """Jobs, newest first, in OpenAI's list shape."""
    jobs, has_more = tunings_service.list_page(session, principal=principal, limit=limit, after=after)
    return OpenAIJobList(data=[to_openai_job(session, job=job) for job in jobs], has_more=has_more)


def to_openai_job(session: Session, *, job: TuningJob) -> OpenAIJob:
    run = job.run
    error = None
    if run.status == RunStatus.failed.value:
        error = OpenAIError(code=run.failure_cause or "failed", message=run.error_message or "the job failed")
    params = job.hyperparameters
    hyperparameters = {
        "n_epochs": params.get("epochs"),
        "batch_size": params.get("batch_size"),
        "learning_rate_multiplier": (params.get("learning_rate") or BASE_LEARNING_RATE) / BASE_LEARNING_RATE,
    }
    return OpenAIJob(
        id=job.id,
        created_at=unix(job.created_at) or 0,
        error=error,
        fine_tuned_model=job.fine_tuned_model if run.status == RunStatus.succeeded.value else None,
        finished_at=unix(run.finished_at),
        hyperparameters=hyperparameters,
        model=job.model,
        result_files=results.ids(job),
        seed=job.seed if job.seed is not None else 42,
        status=_STATUS[run.status],
        training_file=job.training_file,
        validation_file=job.validation_file,
        metadata=job.extra or None,
        method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        user_provided_suffix=job.suffix,
    )


def events(session: Session, *, job: TuningJob) -> list[OpenAIEvent]:
    """Log lines (`message`) and metric points (`metrics`), newest first."""
    run = job.run
    found: list[tuple[datetime, str, OpenAIEvent]] = []
    page = runs_service.read_logs(session, run=run, after=0, limit=10_000)
    for line in page.data:
        event = OpenAIEvent(
            id=f"ftevent-l{line.seq}",
            created_at=unix(line.created_at) or 0,
            message=line.line,
            type="message",
        )
        found.append((line.created_at, f"l{line.seq:012d}", event))
    for point in runs_service.metrics(session, run=run):
        data = {
            "step": point.step,
            "total_steps": run.total_steps,
            "train_loss": point.loss,
            "valid_loss": point.eval_loss,
            "epoch": point.epoch,
            "learning_rate": point.lr,
        }
        event = OpenAIEvent(
            id=f"ftevent-m{point.id}",
            created_at=unix(point.created_at) or 0,
            message=_metrics_message(point, total_steps=run.total_steps),
            type="metrics",
            data=data,
        )
        found.append((point.created_at, f"m{point.id:012d}", event))
    found.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [event for _, _, event in found]


def _metrics_message(point: RunMetric, *, total_steps: int | None) -> str:
    step = f"Step {point.step}/{total_steps}" if total_steps else f"Step {point.step}"
    parts = [f"training loss={point.loss:.4f}" if point.loss is not None else None]
    parts.append(f"validation loss={point.eval_loss:.4f}" if point.eval_loss is not None else None)
    return f"{step}: {', '.join(p for p in parts if p) or 'metrics'}"


def checkpoints(session: Session, *, job: TuningJob) -> list[OpenAICheckpoint]:
    """One checkpoint per `checkpoint-<step>/` folder the run left, newest step first."""
    steps: dict[int, datetime] = {}
    for artifact in tunings_service.checkpoints(session, job=job):
        match = re.match(r"checkpoint-(\d+)/", artifact.path)
        if match:
            steps.setdefault(int(match.group(1)), artifact.created_at)
    points = [p for p in runs_service.metrics(session, run=job.run) if p.step is not None]
    return [
        OpenAICheckpoint(
            id=f"ftckpt-{job.id.removeprefix('job-')}-{step}",
            created_at=unix(created) or 0,
            fine_tuned_model_checkpoint=f"{job.fine_tuned_model}:ckpt-step-{step}",
            fine_tuning_job_id=job.id,
            metrics=_checkpoint_metrics(points, step=step),
            step_number=step,
        )
        for step, created in sorted(steps.items(), reverse=True)
    ]


def _checkpoint_metrics(points: list[RunMetric], *, step: int) -> dict[str, Any]:
    """The losses last logged at or before a checkpoint's step, as OpenAI names them."""
    reached = sorted((p for p in points if p.step is not None and p.step <= step), key=lambda p: p.step or 0)
    train = next((p.loss for p in reversed(reached) if p.loss is not None), None)
    valid = next((p.eval_loss for p in reversed(reached) if p.eval_loss is not None), None)
    return {"step": step, "train_loss": train, "valid_loss": valid}


def to_openai_file(dataset: Dataset) -> OpenAIFile:
    first = dataset.files[0] if dataset.files else None
    status = {"ready": "processed", "invalid": "error"}.get(dataset.status, "uploaded")
    return OpenAIFile(
        id=dataset.id,
        bytes=first.bytes if first else 0,
        created_at=unix(dataset.created_at) or 0,
        filename=first.name if first else dataset.name,
        purpose=str(dataset.extra.get("purpose", "fine-tune")),
        status=status,
        status_details=None
        if status != "error" or first is None
        else datasets_service.left_out_reason(first.status, first.validation),
    )


def to_openai_result_file(result: results.ResultFile) -> OpenAIFile:
    return OpenAIFile(
        id=result.id,
        bytes=result.size,
        created_at=unix(result.created_at) or 0,
        filename=result.filename,
        purpose="fine-tune-results",
        status="processed",
    )


def page_after(items: list[Any], *, after: str | None, limit: int) -> tuple[list[Any], bool]:
    """Slice a newest-first list after the item with id `after`."""
    if after is not None:
        ids = [item.id for item in items]
        if after not in ids:
            raise Invalid(f"cursor {after!r} not found", param="after")
        items = items[ids.index(after) + 1 :]
    return items[:limit], len(items) > limit


# ---- files ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """An uploaded training file on disk, as `GET /v1/files/{id}/content` sends it back."""

    path: Path
    filename: str
    media_type: str


async def upload_file(
    store: Store,
    *,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    files: DatasetFiles,
    registry: UploadRegistry,
    max_bytes: int,
    inline_limit: int,
    submit: Callable[..., object],
    should_stop: Callable[[], bool],
) -> OpenAIFile:
    """A training file becomes a validated dataset of its own, named after it; a failed upload leaves none."""
    with store.session_scope() as session:
        dataset = datasets_service.create(session, principal=principal, data=DatasetCreate(name="upload"))
    try:
        row, fields = await datasets_service.receive_upload(
            store,
            dataset=dataset,
            chunks=chunks,
            content_type=content_type,
            content_length=None,
            files=files,
            registry=registry,
            max_bytes=max_bytes,
        )
        await datasets_service.validate_or_schedule(
            store,
            row=row,
            files=files,
            inline_limit=inline_limit,
            submit=submit,
            should_stop=should_stop,
        )
    except BaseException:
        with store.session_scope() as session:
            datasets_service.delete(
                session,
                dataset=datasets_service.get(session, dataset_id=dataset.id, principal=principal),
                files=files,
                registry=registry,
            )
        raise
    with store.session_scope() as session:
        return to_openai_file(
            datasets_service.name_after_upload(
                session, dataset_id=dataset.id, filename=row.name, purpose=fields.get("purpose", "fine-tune")
            )
        )


def list_files(
    session: Session, *, principal: Principal, limit: int, after: str | None
) -> tuple[list[OpenAIFile], bool]:
    """Files (datasets with a file), newest first; returns (files, has_more)."""
    datasets, has_more = datasets_service.list_page(session, principal=principal, limit=limit, after=after)
    return [to_openai_file(d) for d in datasets if d.files], has_more


def find_result_file(
    session: Session, *, file_id: str, principal: Principal, layout: TrainingLayout
) -> results.ResultFile | None:
    """The job result file `file_id` names, None for an uploaded file's id; 404 if there is none."""
    parsed = results.parse_id(file_id)
    if parsed is None:
        return None
    job_id, kind = parsed
    try:
        job = tunings_service.get(session, job_id=job_id, principal=principal)
    except NotFound:
        job = None
    found = results.open_result(session, job=job, kind=kind, layout=layout) if job else None
    if found is None:
        raise NotFound(f"file {file_id!r} not found", param="file_id")
    return found


def describe_file(
    session: Session, *, file_id: str, principal: Principal, layout: TrainingLayout
) -> OpenAIFile:
    """A file's metadata: an uploaded training file or a job's result file."""
    result = find_result_file(session, file_id=file_id, principal=principal, layout=layout)
    if result is not None:
        return to_openai_result_file(result)
    return to_openai_file(datasets_service.get(session, dataset_id=file_id, principal=principal))


def file_content(
    session: Session, *, file_id: str, principal: Principal, files: DatasetFiles, layout: TrainingLayout
) -> results.ResultFile | StoredFile:
    """What the file's bytes come from: a result file built on request, or the uploaded file."""
    result = find_result_file(session, file_id=file_id, principal=principal, layout=layout)
    if result is not None:
        return result
    dataset = datasets_service.get(session, dataset_id=file_id, principal=principal)
    if not dataset.files:
        raise NotFound(f"file {file_id!r} has no content", param="file_id")
    first = dataset.files[0]
    return StoredFile(files.path(dataset.id, first.stored_name), first.name, first.media_type)


def delete_file(
    session: Session,
    *,
    file_id: str,
    principal: Principal,
    files: DatasetFiles,
    registry: UploadRegistry,
    layout: TrainingLayout,
) -> None:
    """Delete an uploaded file's dataset; a job's result files go only with the job."""
    if find_result_file(session, file_id=file_id, principal=principal, layout=layout) is not None:
        raise Invalid(
            f"{file_id} is a result of a fine-tuning job; it goes when the job is deleted "
            "(DELETE /v1/tunings.delete/{job_id})",
            param="file_id",
            code="result_file",
        )
    dataset = datasets_service.get(session, dataset_id=file_id, principal=principal)
    datasets_service.delete(session, dataset=dataset, files=files, registry=registry)


# ---- fine-tuning jobs ---------------------------------------------------------------


def create_job(
    session: Session,
    *,
    principal: Principal,
    body: OpenAIJobCreate,
    setup: TuningSetup,
    idempotency_key: str | None,
) -> OpenAIJob:
    """A tuning job from OpenAI's request; its `metadata` is kept on the job."""
    job = tunings_service.create(
        session,
        principal=principal,
        data=to_tuning_create(body),
        setup=setup,
        idempotency_key=idempotency_key,
    )
    job.extra = body.metadata or {}
    return to_openai_job(session, job=job)


# ---- models -------------------------------------------------------------------------


def list_models(session: Session, *, principal: Principal, sources: ModelSources) -> list[ModelRead]:
    """Base models (catalog and model roots), then the fine-tuned models the caller may see."""
    found = [
        ModelRead(id=name, created=int(path.stat().st_mtime), owned_by="system", kind="base", path=str(path))
        for name, path in models_service.base_models(sources=sources).items()
    ]
    for job in tunings_service.fine_tuned_models(session, principal=principal):
        finished = job.run.finished_at or job.created_at
        found.append(
            ModelRead(
                id=job.fine_tuned_model,
                created=int(finished.timestamp()),
                owned_by=job.owner,
                kind="fine-tuned",
                path=job.run.output_dir,
            )
        )
    return found


def get_model(session: Session, *, model_id: str, principal: Principal, sources: ModelSources) -> ModelRead:
    """One model by name (names may contain `/`)."""
    for model in list_models(session, principal=principal, sources=sources):
        if model.id == model_id:
            return model
    raise NotFound(f"model {model_id!r} not found", param="model_id")
