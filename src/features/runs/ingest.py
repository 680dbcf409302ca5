"""Log ingestion: new lines of a run's output.log and trainer_log.jsonl into the store.

Each pass moves the lines, the progress and the metric points they carry, and
the new file offsets in one transaction, so a restart never stores a line twice.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.features.runs import service as runs_service
from src.features.runs import state
from src.features.runs.progress import (
    MetricSample,
    Progress,
    parse_output_line,
    parse_trainer_log_line,
)
from src.features.runs.workspace import TrainingLayout
from src.storage import Store
from src.storage.tables import Run, RunMetric
from src.storage.types import utcnow

READ_CHUNK = 4 * 1024 * 1024
MAX_RUNNING_PROGRESS = 0.99


def ingest(store: Store, *, layout: TrainingLayout, run_id: str, final: bool = False) -> None:
    """Move new lines of output.log and trainer_log.jsonl into the store, with the offsets, atomically.

    Progress comes from training steps only: trainer_log.jsonl when the run writes one
    (then it is the only source), else Hugging Face log dicts that carry a step, else the
    training loop's tqdm bar. Metrics are stored once per step, merged across sources.
    """
    while True:
        with store.session_scope() as session:
            run = state.lock_unfinished(session, run_id=run_id)
            if run is None:
                return
            lines, run.log_offset, more = _read_lines(
                layout.workspace_of(run) / "output.log", run.log_offset, final=final
            )
            progress: list[Progress] = []
            samples: list[MetricSample] = []
            trainer_log = _trainer_log_path(layout, run)
            if trainer_log is not None:
                records, run.trainer_log_offset, more_records = _read_lines(
                    trainer_log, run.trainer_log_offset, final=final, split_cr=False
                )
                more = more or more_records
                for record in records:
                    found, sample = parse_trainer_log_line(record)
                    if found:
                        progress.append(found)
                    if sample:
                        samples.append(sample)
                # its total is the one a tqdm bar must match to be the training loop's
                _apply_progress(run, progress)
            output_progress, output_samples, summary = _parse_output(run, lines)
            if trainer_log is None:
                _apply_progress(run, output_progress)
            else:
                # a printed dict's step is only guessed from the tqdm bar drawn before it, and
                # tqdm redraws at most every 0.1 s: with the trainer's own log, keep only dicts
                # that name their step
                output_samples = [sample for sample in output_samples if sample.step_given]
            if lines:
                runs_service.append_log_lines(session, run=run, lines=lines, source="output", tags=[])
            if summary:
                run.summary = {**(run.summary or {}), **summary}
            # the trainer's log is the authority on a step: merged last, its values win
            _store_samples(session, run, [*output_samples, *samples])
            if lines or progress or samples:
                run.last_activity_at = utcnow()
        if not more:
            return


def _trainer_log_path(layout: TrainingLayout, run: Run) -> Path | None:
    candidates = []
    if run.output_dir:
        host_output = layout.host_path_of(run.executor, run.output_dir)
        if host_output is not None:
            candidates.append(host_output / "trainer_log.jsonl")
    candidates.append(layout.workspace_of(run) / "trainer_log.jsonl")
    return next((c for c in candidates if c.exists()), None)


def _read_lines(
    path: Path, offset: int, *, final: bool, split_cr: bool = True
) -> tuple[list[str], int, bool]:
    """Complete lines after `offset` (the rest too when `final`), the new offset, and whether more remains."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(READ_CHUNK)
            more = bool(handle.read(1))
    except FileNotFoundError:
        return [], offset, False
    if not data:
        return [], offset, False
    separators = (b"\n", b"\r") if split_cr else (b"\n",)
    end = max(data.rfind(sep) for sep in separators) + 1
    if (final and not more) or (end == 0 and len(data) >= READ_CHUNK):
        end = len(data)  # the last unterminated line of a finished run, or one overlong line
    chunk = data[:end]
    if split_cr:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = [raw.decode("utf-8", "replace") for raw in chunk.split(b"\n") if raw.strip()]
    return lines, offset + end, more


def _parse_output(run: Run, lines: list[str]) -> tuple[list[Progress], list[MetricSample], dict[str, float]]:
    """Progress, step metrics and the end-of-training summary in new output lines, in their order.

    A tqdm bar counts as the training loop's when its total is the run's known total
    (the first one seen sets it); a log dict without a step belongs to the step that bar
    last showed (`run.output_step`, kept across passes).
    """
    progress: list[Progress] = []
    samples: list[MetricSample] = []
    summary: dict[str, float] = {}
    for line in lines:
        found, sample = parse_output_line(line)
        if found is not None and found.kind == "tqdm":
            if run.total_steps is None:
                run.total_steps = found.total_steps
            if found.total_steps == run.total_steps:
                run.output_step = found.current_step
                progress.append(found)
        elif found is not None:
            if found.current_step is not None and found.total_steps is None and run.total_steps:
                found.total_steps = run.total_steps
                found.fraction = found.current_step / run.total_steps
            progress.append(found)
        if sample is None:
            continue
        if sample.summary:
            summary.update(sample.summary_values())
            continue
        if sample.step is None:
            sample.step = run.output_step if run.output_step is not None else run.current_step
            sample.step_given = False
        else:
            run.output_step = sample.step
        samples.append(sample)
    if any(p.kind == "log_dict" and p.current_step is not None for p in progress):
        progress = [p for p in progress if p.kind != "tqdm"]  # log dicts with steps beat tqdm
    return progress, samples, summary


def _apply_progress(run: Run, found: list[Progress]) -> None:
    """Move the run's step, epoch and progress forward; 1.0 is left to the run's success."""
    for item in found:
        if item.total_steps is not None:
            run.total_steps = item.total_steps
        if item.current_step is not None:
            run.current_step = max(run.current_step or 0, item.current_step)
        if item.epoch is not None:
            run.epoch = max(run.epoch or 0.0, item.epoch)
        if item.fraction is not None:
            # several sources report progress; a run's progress never goes back, and the last
            # step logged is not the end: the weights are still being saved
            run.progress = max(run.progress or 0.0, min(MAX_RUNNING_PROGRESS, item.fraction))


# merged by step: a source's values replace those of a source of equal or lower rank
_SOURCE_RANK = {"output": 1, "trainer_log": 2}
_MERGED_FIELDS = ("epoch", "loss", "eval_loss", "lr", "grad_norm", "throughput")


def _store_samples(session: Session, run: Run, samples: list[MetricSample]) -> None:
    """Store each step once: a sample for a step already stored merges into that point."""
    steps = sorted({s.step for s in samples if s.step is not None})
    by_step: dict[int, RunMetric] = {}
    for start in range(0, len(steps), 500):
        rows = session.scalars(
            select(RunMetric)
            .where(RunMetric.run_id == run.id, RunMetric.step.in_(steps[start : start + 500]))
            .order_by(RunMetric.id)
        )
        for row in rows:
            by_step.setdefault(row.step, row)  # type: ignore[arg-type]
    for sample in samples:
        point = by_step.get(sample.step) if sample.step is not None else None
        if point is None:
            point = RunMetric(run_id=run.id, source=sample.source, step=sample.step, extra={})
            session.add(point)
            if sample.step is not None:
                by_step[sample.step] = point
        _merge_sample(point, sample)


def _merge_sample(point: RunMetric, sample: MetricSample) -> None:
    wins = _SOURCE_RANK.get(sample.source, 0) >= _SOURCE_RANK.get(point.source, 0)
    for name in _MERGED_FIELDS:
        value = getattr(sample, name)
        if value is not None and (wins or getattr(point, name) is None):
            setattr(point, name, value)
    point.extra = {**point.extra, **sample.extra} if wins else {**sample.extra, **point.extra}
    if wins:
        point.source = sample.source
