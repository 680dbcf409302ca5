"""Translate between OpenAI's fine-tuning API and tuning jobs (no FastAPI here)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from src.features.datasets.service import left_out_reason
from src.features.runs import service as runs_service
from src.features.tunings import results
from src.features.tunings import service as tunings_service
from src.models.errors import Invalid
from src.models.openai import (
    OpenAICheckpoint,
    OpenAIError,
    OpenAIEvent,
    OpenAIFile,
    OpenAIHyperparameters,
    OpenAIJob,
    OpenAIJobCreate,
)
from src.models.runs import RunStatus
from src.models.tunings import TuningCreate
from src.storage.tables import Dataset, RunMetric, TuningJob

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
        else left_out_reason(first.status, first.validation),
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
