"""The run engine: a scheduler that claims pending runs and a monitor that follows running ones.

Both work from the store and the run's workspace on disk, never from memory
alone, so the service can be killed at any moment: on the next start the
monitor's first pass re-attaches to live runs, finishes those that exited
while it was down (from `exit_code`), and fails the ones that left no trace.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from src.features.gpus import service as gpus_service
from src.features.runs import service as runs_service
from src.features.runs.executors import LaunchError, LaunchSpec, RunExecutor
from src.features.runs.progress import (
    MetricSample,
    Progress,
    looks_like_data_error,
    looks_like_oom,
    parse_output_line,
    parse_trainer_log_line,
)
from src.features.runs.workspace import TrainingLayout
from src.models.runs import FailureCause, RunStatus
from src.storage import Store
from src.storage.tables import Run, RunArtifact, RunLog, RunMetric
from src.storage.types import utcnow
from src.utils.child_env import FORBIDDEN_ENV
from src.utils.sealing import SealBroken

logger = logging.getLogger(__name__)

READ_CHUNK = 4 * 1024 * 1024
# A training program that cannot start for a reason of its own (no CUDA for QLoRA, say)
# prints this before exiting; the run then fails as `launch_error` with that message.
LAUNCH_ERROR_MARKER = "[tuning:launch_error]"
LIVENESS_EVERY = 2.0
ERROR_TAIL_LINES = 50
MAX_ARTIFACTS = 10_000
MAX_RUNNING_PROGRESS = 0.99


@dataclass
class _Watch:
    """What the monitor remembers about a running run between passes (all of it recoverable)."""

    last_liveness_check: float = 0.0
    term_sent_at: float | None = None
    kill_sent: bool = False
    stalled: bool = False


@dataclass
class EngineSettings:
    max_concurrent_runs: int
    monitor_interval: float
    stall_timeout: float
    cancel_grace: float
    base_env: dict[str, str] = field(default_factory=dict)


class RunEngine:
    def __init__(
        self,
        store: Store,
        *,
        layout: TrainingLayout,
        executors: dict[str, RunExecutor],
        settings: EngineSettings,
    ) -> None:
        self.store = store
        self.layout = layout
        self.executors = executors
        self.settings = settings
        self._watches: dict[str, _Watch] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current pass and stop; runs keep running for the next start to re-adopt."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                logger.exception("run engine pass failed")
            self._stop.wait(max(0.0, self.settings.monitor_interval - (time.monotonic() - started)))

    def tick(self) -> None:
        """One pass: follow running runs, then start what fits."""
        for run_id in self._running_ids():
            try:
                self.monitor(run_id)
            except Exception:
                logger.exception("monitoring %s failed", run_id)
        for run_id in self.schedule():
            self.launch(run_id)

    def _running_ids(self) -> list[str]:
        with self.store.session_scope(read_only=True) as session:
            return list(session.scalars(select(Run.id).where(Run.status == RunStatus.running.value)))

    # -- scheduling ---------------------------------------------------------------

    def schedule(self) -> list[str]:
        """Claim pending runs in order while slots and GPUs allow; returns the claimed ids.

        The claim is one transaction that holds the scheduling lock (BEGIN IMMEDIATE on
        SQLite, an advisory lock on PostgreSQL), so two schedulers never exceed the
        concurrency limit or claim the same run.
        """
        with self.store.session_scope() as session:
            if not self.store.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            running = (
                session.scalar(
                    select(func.count()).select_from(Run).where(Run.status == RunStatus.running.value)
                )
                or 0
            )
            slots = self.settings.max_concurrent_runs - running
            pending = list(
                session.scalars(
                    select(Run)
                    .where(Run.status == RunStatus.pending.value)
                    .order_by(Run.id)
                    .limit(max(slots, 0) + 20)
                    .with_for_update(skip_locked=True)
                )
            )
            if not pending:
                return []
            free = gpus_service.free_gpus(session, gpu_ids=self.layout.gpu_ids)
            claimed: list[str] = []
            for run in pending:
                if len(claimed) >= slots:
                    _set_reason(run, f"waiting for a run slot ({self.settings.max_concurrent_runs} running)")
                    continue
                if run.gpus_requested > len(free):
                    held = gpus_service.describe_holders(session, owner_scope=run.owner)
                    _set_reason(run, f"waiting for {run.gpus_requested} free GPU(s); held: {held}")
                    continue
                taken, free = free[: run.gpus_requested], free[run.gpus_requested :]
                gpus_service.acquire(session, gpu_ids=taken, holder_type="run", holder_id=run.id)
                now = utcnow()
                run.status = RunStatus.running.value
                run.gpu_ids = taken
                run.pending_reason = None
                run.started_at = now
                run.last_activity_at = now
                claimed.append(run.id)
        return claimed

    def launch(self, run_id: str) -> None:
        """Start a claimed run's command; a failure to start is the run's `launch_error`."""
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            assert run is not None
            executor = self.executors.get(run.executor)
            try:
                spec = self._spec(run)
            except SealBroken:
                spec = None
        try:
            if spec is None:
                raise LaunchError("a sealed env value does not open: was TUNING_SECRETS_KEY changed?")
            if executor is None:
                raise LaunchError(f"executor {run.executor!r} is not available in this service")
            pgid, exec_id = executor.launch(spec)
        except LaunchError as exc:
            logger.warning("run %s could not start: %s", run_id, exc)
            self._finish(run_id, status=RunStatus.failed, cause=FailureCause.launch_error, message=str(exc))
            return
        with self.store.session_scope() as session:
            session.execute(update(Run).where(Run.id == run_id).values(pgid=pgid, exec_id=exec_id))
        logger.info("run %s started (pgid %s)", run_id, pgid)

    def _spec(self, run: Run) -> LaunchSpec:
        exec_workspace = self.layout.exec_path(run.executor, f"runs/{run.id}")
        # admission refused these already; a row written before the rule existed must not slip through
        user_env = {name: value for name, value in run.env.items() if not FORBIDDEN_ENV.match(name)}
        if self.layout.env_sealer is not None:
            user_env = {
                name: self.layout.env_sealer.open(value, context=run.id) for name, value in user_env.items()
            }
        env = {**(self.settings.base_env if run.executor == "local" else {}), **user_env}
        env.update(
            {
                "TUNING_RUN_ID": run.id,
                "TUNING_RUN_DIR": exec_workspace,
                "TUNING_OUTPUT_DIR": run.output_dir or f"{exec_workspace}/output",
                "CUDA_VISIBLE_DEVICES": ",".join(run.gpu_ids),
            }
        )
        return LaunchSpec(
            run_id=run.id,
            argv=run.command,
            env=env,
            host_workspace=Path(run.workspace or self.layout.host_workspace(run.id)),
            exec_workspace=exec_workspace,
            exec_workdir=run.workdir or self.layout.exec_workdir(run.executor),
        )

    # -- monitoring ---------------------------------------------------------------

    def monitor(self, run_id: str) -> None:
        """Ingest new output, then decide whether the run has ended, must be stopped, or was lost."""
        watch = self._watches.setdefault(run_id, _Watch())
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            if run is None or run.status != RunStatus.running.value:
                self._watches.pop(run_id, None)
                return
            workspace = Path(run.workspace or "")
            executor = self.executors.get(run.executor)
            pgid, cancel_requested, exec_workspace = (
                run.pgid,
                run.cancel_requested,
                self.layout.exec_path(run.executor, f"runs/{run.id}"),
            )
            last_activity = run.last_activity_at
        exit_code = _read_exit_code(workspace)
        self.ingest(run_id, final=exit_code is not None)
        if exit_code is not None:
            self._finish_from_exit(run_id, exit_code, watch)
            return
        now = time.monotonic()
        if cancel_requested or watch.stalled:
            self._stop_group(executor, pgid, watch, now)
        elif (
            last_activity is not None
            and (utcnow() - last_activity).total_seconds() > self.settings.stall_timeout
        ):
            logger.warning("run %s stalled: no output for %.0f s", run_id, self.settings.stall_timeout)
            watch.stalled = True
            self._stop_group(executor, pgid, watch, now)
        if now - watch.last_liveness_check < LIVENESS_EVERY and watch.term_sent_at is None:
            return
        watch.last_liveness_check = now
        alive = (
            executor is not None
            and pgid is not None
            and executor.is_alive(pgid, exec_workspace=exec_workspace)
        )
        if alive:
            return
        exit_code = _read_exit_code(workspace)  # it may have ended between the two looks
        if exit_code is not None:
            self.ingest(run_id, final=True)
            self._finish_from_exit(run_id, exit_code, watch)
        elif cancel_requested:
            self._finish(
                run_id,
                status=RunStatus.cancelled,
                cause=FailureCause.cancelled_by_user,
                message="cancelled by the user",
            )
        elif watch.stalled:
            self._finish(
                run_id,
                status=RunStatus.failed,
                cause=FailureCause.stalled,
                message=f"no output for {self.settings.stall_timeout:.0f} s; the run was stopped",
            )
        elif pgid is None and (utcnow() - (last_activity or utcnow())).total_seconds() < 30:
            return  # still launching
        else:
            self._finish(
                run_id,
                status=RunStatus.failed,
                cause=FailureCause.lost,
                message="the run's process is gone and it left no exit code",
            )

    def _stop_group(self, executor: RunExecutor | None, pgid: int | None, watch: _Watch, now: float) -> None:
        if executor is None or pgid is None:
            return
        if watch.term_sent_at is None:
            executor.signal_group(pgid, "TERM")
            watch.term_sent_at = now
        elif not watch.kill_sent and now - watch.term_sent_at >= self.settings.cancel_grace:
            executor.signal_group(pgid, "KILL")
            watch.kill_sent = True

    def _finish_from_exit(self, run_id: str, exit_code: int, watch: _Watch) -> None:
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            cancel_requested = bool(run and run.cancel_requested)
            tail = _tail(session, run_id, ERROR_TAIL_LINES)
        status, cause, message = classify_exit(
            exit_code,
            tail=tail,
            cancel_requested=cancel_requested,
            stalled=watch.stalled,
            stall_timeout=self.settings.stall_timeout,
        )
        self._finish(run_id, status=status, cause=cause, message=message, exit_code=exit_code, tail=tail)

    def _finish(
        self,
        run_id: str,
        *,
        status: RunStatus,
        cause: FailureCause | None = None,
        message: str | None = None,
        exit_code: int | None = None,
        tail: list[str] | None = None,
    ) -> None:
        """Move a running run to its terminal state once, register artifacts, release its GPUs.

        `tail` is the log tail when the caller already read it (no log line is written after exit).
        """
        self._watches.pop(run_id, None)
        with self.store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            output = (
                self.layout.host_path_of(run.executor, run.output_dir) if run and run.output_dir else None
            )
        # hash outside the write transaction: model files can be large
        found = scan_artifacts(output) if output is not None and output.is_dir() else []
        with self.store.session_scope() as session:
            run = session.get(Run, run_id, with_for_update=True)
            if run is None or RunStatus(run.status).is_terminal:
                return
            if status is RunStatus.succeeded:
                run.progress = 1.0
            run.status = status.value
            run.exit_code = exit_code
            run.failure_cause = cause.value if cause else None
            run.error_message = message
            if cause is None:
                run.error_tail = None
            else:
                run.error_tail = tail if tail is not None else _tail(session, run_id, ERROR_TAIL_LINES)
            run.finished_at = utcnow()
            gpus_service.release(session, holder_type="run", holder_id=run_id)
            known = set(session.scalars(select(RunArtifact.path).where(RunArtifact.run_id == run_id)))
            for artifact in found:
                if artifact["path"] not in known:
                    session.add(
                        RunArtifact(id=runs_service.new_artifact_id(), run_id=run_id, tags=[], **artifact)
                    )
        logger.info("run %s %s%s", run_id, status.value, f" ({cause.value})" if cause else "")

    # -- log ingestion ------------------------------------------------------------

    def ingest(self, run_id: str, *, final: bool = False) -> None:
        """Move new lines of output.log and trainer_log.jsonl into the store, with the offsets, atomically.

        Progress comes from training steps only: trainer_log.jsonl when the run writes one
        (then it is the only source), else Hugging Face log dicts that carry a step, else the
        training loop's tqdm bar. Metrics are stored once per step, merged across sources.
        """
        while True:
            with self.store.session_scope() as session:
                run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
                if run is None or RunStatus(run.status).is_terminal:
                    return
                workspace = Path(run.workspace or "")
                lines, run.log_offset, more = _read_lines(
                    workspace / "output.log", run.log_offset, final=final
                )
                progress: list[Progress] = []
                samples: list[MetricSample] = []
                trainer_log = self._trainer_log_path(run)
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

    def _trainer_log_path(self, run: Run) -> Path | None:
        candidates = []
        if run.output_dir:
            host_output = self.layout.host_path_of(run.executor, run.output_dir)
            if host_output is not None:
                candidates.append(host_output / "trainer_log.jsonl")
        candidates.append(Path(run.workspace or "") / "trainer_log.jsonl")
        return next((c for c in candidates if c.exists()), None)


def classify_exit(
    exit_code: int, *, tail: list[str], cancel_requested: bool, stalled: bool, stall_timeout: float
) -> tuple[RunStatus, FailureCause | None, str | None]:
    """The final status, cause and message of a run that wrote `exit_code`."""
    launch_problem = next((line for line in tail if line.startswith(LAUNCH_ERROR_MARKER)), None)
    if exit_code == 0:
        return RunStatus.succeeded, None, None
    if launch_problem is not None:
        return (
            RunStatus.failed,
            FailureCause.launch_error,
            launch_problem.removeprefix(LAUNCH_ERROR_MARKER).strip(),
        )
    if cancel_requested:
        return RunStatus.cancelled, FailureCause.cancelled_by_user, "cancelled by the user"
    if stalled:
        return (
            RunStatus.failed,
            FailureCause.stalled,
            f"no output for {stall_timeout:.0f} s; the run was stopped",
        )
    if looks_like_oom(tail):
        return RunStatus.failed, FailureCause.oom, f"out of memory (exit code {exit_code})"
    if looks_like_data_error(tail):
        return (
            RunStatus.failed,
            FailureCause.data_error,
            f"the training data could not be used (exit code {exit_code})",
        )
    return RunStatus.failed, FailureCause.exit_code, f"the training command exited with code {exit_code}"


def _set_reason(run: Run, reason: str) -> None:
    if run.pending_reason != reason:
        run.pending_reason = reason


def _read_exit_code(workspace: Path) -> int | None:
    try:
        text_value = (workspace / "exit_code").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text_value) if text_value.lstrip("-").isdigit() else None


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


def _tail(session: Session, run_id: str, count: int) -> list[str]:
    rows = session.scalars(
        select(RunLog.line).where(RunLog.run_id == run_id).order_by(RunLog.seq.desc()).limit(count)
    )
    return list(rows)[::-1]


def is_checkpoint(relative: str) -> bool:
    """A file inside a `checkpoint-<step>/` folder of the output directory."""
    return relative.split("/", 1)[0].startswith("checkpoint-")


def artifact_kind(relative: str) -> str:
    name = relative.rsplit("/", 1)[-1]
    if is_checkpoint(relative):
        return "checkpoint"
    if name.startswith("adapter_"):
        return "adapter"
    if name.endswith((".log", ".jsonl")) or name == "trainer_log.jsonl":
        return "log"
    if name.endswith((".safetensors", ".bin", ".pt", ".gguf")):
        return "model"
    if name.endswith((".json", ".yaml", ".yml", ".txt", ".model")):
        return "config"
    return "other"


def scan_artifacts(output_dir: Path) -> list[dict[str, object]]:
    """Path, size, SHA-256 and kind of every file under a run's output directory."""
    files = sorted(p for p in output_dir.rglob("*") if p.is_file() and not p.is_symlink())[:MAX_ARTIFACTS]
    found = []
    for path in files:
        relative = path.relative_to(output_dir).as_posix()
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        found.append(
            {
                "path": relative,
                "bytes": path.stat().st_size,
                "sha256": digest.hexdigest(),
                "kind": artifact_kind(relative),
            }
        )
    return found
