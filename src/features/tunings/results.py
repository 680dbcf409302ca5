"""A succeeded job's result files, OpenAI-style: a metrics CSV and the model as one `.tar`.

They are not stored twice. Their ids name the job and the kind
(`file-<job hex>-metrics`, `file-<job hex>-model`), so `GET /v1/files/{id}/content`
finds the job, checks its owner like any job read, and builds the bytes on request:
the CSV from the stored metric points, the tar streamed from the run's registered
artifacts (checkpoints left out), each file read from inside the run's output directory.
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from src.features.runs import service as runs_service
from src.features.runs.workspace import TrainingLayout
from src.features.tunings import service as tunings_service
from src.models.runs import RunStatus
from src.storage.tables import RunMetric, TuningJob

RESULT_FILE_ID = r"^file-[0-9a-f]{12}-(?:metrics|model)$"
_PARSE = re.compile(r"^file-(?P<job>[0-9a-f]{12})-(?P<kind>metrics|model)$")
METRICS_COLUMNS = ("step", "epoch", "train_loss", "valid_loss", "learning_rate")
BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 16
Member = tuple[str, Path, int, int]  # name in the tar, file on disk, size, mtime


@dataclass(frozen=True)
class ResultFile:
    """One result file of a job: what `GET /v1/files/{id}` describes and `/content` streams."""

    id: str
    filename: str
    size: int
    media_type: str
    created_at: datetime
    chunks: Callable[[], Iterator[bytes]]


def parse_id(file_id: str) -> tuple[str, str] | None:
    """`file-<hex>-<kind>` → (`job-<hex>`, kind), or None when it is not a result file id."""
    match = _PARSE.match(file_id)
    return (f"job-{match['job']}", match["kind"]) if match else None


def ids(job: TuningJob) -> list[str]:
    """The job's result file ids, once it succeeded (OpenAI lists none before)."""
    if job.run.status != RunStatus.succeeded.value:
        return []
    hex_id = job.id.removeprefix("job-")
    return [f"file-{hex_id}-model", f"file-{hex_id}-metrics"]


def open_result(session: Session, *, job: TuningJob, kind: str, layout: TrainingLayout) -> ResultFile | None:
    """The result file of `kind`, or None while the job has not succeeded."""
    file_id = f"file-{job.id.removeprefix('job-')}-{kind}"
    if file_id not in ids(job):
        return None
    finished = job.run.finished_at or job.created_at
    if kind == "metrics":
        content = metrics_csv(runs_service.metrics(session, run=job.run))
        return ResultFile(
            file_id, "step_metrics.csv", len(content), "text/csv", finished, lambda: iter([content])
        )
    members = _model_members(session, job=job, layout=layout)
    return ResultFile(
        file_id,
        f"{job.id}-model.tar",
        tar_size(members),
        "application/x-tar",
        finished,
        lambda: stream_tar(members),
    )


def metrics_csv(points: list[RunMetric]) -> bytes:
    """One row per step, in step order, with OpenAI's `train_loss`/`valid_loss` column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for point in sorted((p for p in points if p.step is not None), key=lambda p: p.step or 0):
        writer.writerow(
            [
                "" if value is None else value
                for value in (point.step, point.epoch, point.loss, point.eval_loss, point.lr)
            ]
        )
    return out.getvalue().encode()


def _model_members(session: Session, *, job: TuningJob, layout: TrainingLayout) -> list[Member]:
    """(name in the tar, file on disk, size, mtime) for each non-checkpoint artifact still on disk."""
    members = []
    for artifact in tunings_service.final_artifacts(session, job=job):
        path = runs_service.artifact_file(job.run, artifact, layout=layout)
        stat = path.stat()
        members.append((f"{job.id}/{artifact.path}", path, stat.st_size, int(stat.st_mtime)))
    return members


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> int:
    return -size % BLOCK


def tar_size(members: list[Member]) -> int:
    """The exact length of `stream_tar(members)`, so the response can carry Content-Length."""
    body = sum(len(_header(name, size, mtime)) + size + _padding(size) for name, _, size, mtime in members)
    return body + 2 * BLOCK


def stream_tar(members: list[Member]) -> Iterator[bytes]:
    """A POSIX tar of the members, written as it is read: no copy on disk, no whole file in memory.

    Each member is exactly the size measured before the stream began: a file that
    shrank since is padded with zeros, one that grew is cut, so Content-Length holds.
    """
    for name, path, size, mtime in members:
        yield _header(name, size, mtime)
        left = size
        with path.open("rb") as handle:
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk
        yield bytes(left + _padding(size))
    yield bytes(2 * BLOCK)
