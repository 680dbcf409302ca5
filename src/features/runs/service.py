"""Runs: admission, staging, queries, cancel, delete, logs, metrics and artifacts."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, aliased, contains_eager

from src.features.auth.service import Principal
from src.features.datasets import service as datasets_service
from src.features.datasets.uploads import DatasetFiles
from src.features.models import service as models_service
from src.features.runs import state, wakeup
from src.features.runs.workspace import (
    HOST_PATH_EXECUTORS,
    TrainingLayout,
    create_workspace,
    link_or_copy,
)
from src.features.runs.yaml_paths import YamlPathRefused, confine_paths
from src.features.train_configs import service as train_configs_service
from src.features.train_configs.service import ConfigFiles
from src.features.train_configs.yaml_checks import YamlRejected, load_training_yaml
from src.models.common import UUID_PATTERN
from src.models.datasets import DatasetStatus, FileStatus
from src.models.errors import Invalid, NotFound
from src.models.projects import ProjectStatus
from src.models.runs import (
    FailureCause,
    LogLine,
    LogPage,
    RunCreate,
    RunError,
    RunRead,
    RunStatus,
)
from src.storage.paging import keyset_page
from src.storage.scoping import OwnedQuery, ensure_owned
from src.storage.tables import Dataset, Project, Run, RunArtifact, RunLog, RunMetric, TrainConfig
from src.utils.argv import fill_placeholders, service_placeholders
from src.utils.child_env import EnvRefused, check_user_env, is_secret_name, masked_env
from src.utils.ids import new_uuid7
from src.utils.paths import is_safe_relative_path, resolve_inside

MAX_LOG_LINE = 65536


def new_run_id() -> str:
    """`run-` and 28 hex digits of a UUIDv7, so ids sort by creation."""
    return "run-" + new_uuid7().replace("-", "")[:28]


class _Inputs:
    """What admission resolved: the dataset and config, and how the process will see them."""

    def __init__(self) -> None:
        self.dataset: Dataset | None = None
        self.dataset_ref: str | None = None
        self.dataset_path: Path | None = None
        self.config: TrainConfig | None = None
        self.config_ref: str | None = None
        self.config_path: Path | None = None


def _is_object_id(value: str) -> bool:
    return re.match(UUID_PATTERN, value) is not None


def _training_file(layout: TrainingLayout, relative: str, *, what: str) -> Path:
    """A file or folder of the shared training directory, or 400 naming what is wrong.

    The workspaces directory (`runs/`) holds every owner's runs, so neither it,
    anything inside it, nor the whole training directory can be named.
    """
    if not is_safe_relative_path(relative):
        raise Invalid(
            f"{what} {relative!r} must be a relative path inside the training directory", param=what
        )
    try:
        path = resolve_inside(layout.training_dir, relative)
    except ValueError as exc:
        raise Invalid(f"{what} {relative!r} leaves the training directory", param=what) from exc
    if path == layout.training_dir.resolve() or path.is_relative_to(layout.runs_dir):
        raise Invalid(
            f"{what} {relative!r} names the whole training directory or the run workspaces; "
            f"name an uploaded {what} or a path in the shared training directory",
            param=what,
        )
    if not path.exists():
        raise Invalid(
            f"{what} {relative!r} not found: no uploaded {what} with that id "
            "and no such path in the training directory",
            param=what,
            code=f"{what}_not_found",
        )
    return path


def _resolve_inputs(
    session: Session,
    *,
    project: Project,
    principal: Principal,
    data: RunCreate,
    layout: TrainingLayout,
    dataset_field: str,
) -> _Inputs:
    inputs = _Inputs()
    dataset_ref = data.dataset or project.dataset_name
    if not dataset_ref:
        raise Invalid(
            f"no dataset: pass `{dataset_field}` or set the project's dataset_name", param=dataset_field
        )
    inputs.dataset_ref = dataset_ref
    if _is_object_id(dataset_ref) and session.get(Dataset, dataset_ref) is not None:
        try:
            dataset = datasets_service.get(session, dataset_id=dataset_ref, principal=principal)
        except NotFound as exc:
            raise Invalid(f"{dataset_field} {dataset_ref!r} not found", param=dataset_field) from exc
        if dataset.status != DatasetStatus.ready.value:
            raise Invalid(
                f"{dataset_field} {dataset_ref!r} is {dataset.status}, not ready", param=dataset_field
            )
        inputs.dataset = dataset
    else:
        inputs.dataset_path = _training_file(layout, dataset_ref, what=dataset_field)

    config_ref = data.train_config or project.training_yaml_name
    if config_ref is None and inputs.dataset is not None and inputs.dataset.train_config_id:
        config_ref = inputs.dataset.train_config_id
    if config_ref is None:
        slot = train_configs_service.get_slot(session, principal=principal, missing_ok=True)
        config_ref = slot.id if slot is not None else None
    if not config_ref:
        raise Invalid(
            "no training config: pass `train_config`, set the project's training_yaml_name, or upload one",
            param="train_config",
        )
    inputs.config_ref = config_ref
    if _is_object_id(config_ref) and session.get(TrainConfig, config_ref) is not None:
        try:
            inputs.config = train_configs_service.get(session, config_id=config_ref, principal=principal)
        except NotFound as exc:
            raise Invalid(f"train_config {config_ref!r} not found", param="train_config") from exc
    else:
        inputs.config_path = _training_file(layout, config_ref, what="train_config")
        if not inputs.config_path.is_file():
            raise Invalid(f"train_config {config_ref!r} is not a file", param="train_config")
    return inputs


def _check_env(env: dict[str, str], *, allowed: tuple[str, ...]) -> None:
    try:
        check_user_env(env, allowed=allowed)
    except EnvRefused as exc:
        raise Invalid(str(exc), param=f"env.{exc.name}", code="env_refused") from exc


def _sealed_env(env: dict[str, str], *, run_id: str, layout: TrainingLayout) -> dict[str, str]:
    """The env as stored: credential values (`*_API_KEY`, `*_TOKEN`…) sealed to this run."""
    if layout.env_sealer is None:
        return dict(env)
    return {
        name: layout.env_sealer.seal(value, context=run_id) if is_secret_name(name) else value
        for name, value in env.items()
    }


@dataclass(frozen=True)
class RunSpec:
    """What to admit: the request, the project it runs in and for whom.

    Tuning jobs bring their own command template and run with the workspace as
    working directory (`in_workspace`); a project's runs use the executor's command.
    """

    project: Project
    principal: Principal
    data: RunCreate
    command_template: list[str] | None = None
    in_workspace: bool = False
    # the request field that named the dataset, so errors point at it (`training_file` for a job)
    dataset_field: str = "dataset"


def create(
    session: Session,
    *,
    spec: RunSpec,
    layout: TrainingLayout,
    dataset_files: DatasetFiles,
    config_files: ConfigFiles,
) -> Run:
    """Admit a run: check its inputs, stage them in a fresh workspace, and queue it."""
    project, data = spec.project, spec.data
    if project.status != ProjectStatus.active.value:
        raise Invalid(
            f"project {project.name!r} is {project.status}; runs need an active project", param="name"
        )
    executor = (data.executor.value if data.executor else None) or layout.default_executor
    default_gpus = layout.slurm_default_gpus if executor == "slurm" else layout.default_gpus
    gpus = default_gpus if data.gpus is None else data.gpus
    nodes = data.nodes or 1
    if executor == "slurm":
        if not layout.slurm:
            raise Invalid("this service has no Slurm cluster (TUNING_EXECUTOR=slurm)", param="executor")
        if nodes > layout.max_nodes:
            raise Invalid(f"the run asks for {nodes} nodes; at most {layout.max_nodes}", param="nodes")
    elif nodes > 1:
        raise Invalid("multi-node runs need the slurm executor", param="nodes")
    elif gpus > len(layout.gpu_ids):
        raise Invalid(f"the run asks for {gpus} GPU(s) but this host has {len(layout.gpu_ids)}", param="gpus")
    _check_env(data.env, allowed=layout.env_allowlist)
    inputs = _resolve_inputs(
        session,
        project=project,
        principal=spec.principal,
        data=data,
        layout=layout,
        dataset_field=spec.dataset_field,
    )

    run_id = new_run_id()
    workspace = layout.host_workspace(run_id)
    create_workspace(workspace)
    try:
        exec_workspace = layout.exec_workspace(executor, run_id)
        exec_dataset = _stage_dataset(
            workspace,
            inputs,
            layout=layout,
            executor=executor,
            exec_workspace=exec_workspace,
            dataset_files=dataset_files,
        )
        exec_config, output_exec = _stage_config(
            workspace,
            inputs,
            layout=layout,
            executor=executor,
            exec_workspace=exec_workspace,
            config_files=config_files,
        )
        argv = fill_placeholders(
            spec.command_template or layout.command_for(executor),
            {
                **service_placeholders(),
                "training_yaml": exec_config,
                "dataset": exec_dataset,
                "output_dir": output_exec,
                "run_id": run_id,
                "workspace": exec_workspace,
            },
        )
        run = Run(
            id=run_id,
            project_id=project.id,
            dataset_id=inputs.dataset.id if inputs.dataset else None,
            owner=project.owner,
            status=RunStatus.pending.value,
            executor=executor,
            dataset_ref=inputs.dataset_ref,
            train_config_ref=inputs.config_ref,
            gpus_requested=gpus,
            nodes=nodes,
            env=_sealed_env(data.env, run_id=run_id, layout=layout),
            note=data.note,
            command=argv,
            workspace=str(workspace),
            workdir=exec_workspace if spec.in_workspace else None,
            output_dir=output_exec,
        )
        session.add(run)
        session.flush()
        wakeup.queue_changed(session)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    return run


def _stage_dataset(
    workspace: Path,
    inputs: _Inputs,
    *,
    layout: TrainingLayout,
    executor: str,
    exec_workspace: str,
    dataset_files: DatasetFiles,
) -> str:
    """Link an uploaded dataset's valid files into the workspace; returns the path the process sees."""
    if inputs.dataset is not None:
        for file in inputs.dataset.files:
            if file.status == FileStatus.valid.value:
                link_or_copy(
                    dataset_files.path(inputs.dataset.id, file.stored_name), workspace / "data" / file.name
                )
        return f"{exec_workspace}/data"
    assert inputs.dataset_path is not None and inputs.dataset_ref is not None
    return layout.exec_path(executor, inputs.dataset_ref)


def _with_local_model(document: dict[str, Any], *, layout: TrainingLayout, executor: str) -> dict[str, Any]:
    """A local run's YAML naming a base model this host offers (`tuning/tiny-demo`) gets its directory."""
    name = document.get("model_name_or_path")
    if executor not in HOST_PATH_EXECUTORS or layout.models is None or not isinstance(name, str):
        return document
    path = models_service.resolve(name, sources=layout.models)
    return {**document, "model_name_or_path": str(path)} if path is not None else document


def _stage_config(
    workspace: Path,
    inputs: _Inputs,
    *,
    layout: TrainingLayout,
    executor: str,
    exec_workspace: str,
    config_files: ConfigFiles,
) -> tuple[str, str]:
    """Write the run's own copy of its YAML, with every path it writes to inside the workspace.

    Returns the staged YAML and the output directory, as the process sees them.
    """
    source = config_files.path(inputs.config.id) if inputs.config is not None else inputs.config_path
    assert source is not None
    try:
        document = _with_local_model(
            load_training_yaml(source.read_bytes()), layout=layout, executor=executor
        )
        document = confine_paths(
            document, exec_workspace=exec_workspace, exec_runs_root=layout.exec_runs_root(executor)
        )
    except YamlRejected as exc:
        raise Invalid(
            f"train_config {inputs.config_ref!r} cannot be used: {exc}", param="train_config"
        ) from exc
    except YamlPathRefused as exc:
        raise Invalid(
            f"train_config {inputs.config_ref!r}: {exc}", param="train_config", code="config_path_refused"
        ) from exc
    (workspace / "train.yaml").write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return f"{exec_workspace}/train.yaml", str(document["output_dir"])


_BY_ID = OwnedQuery(
    select(Run).join(Run.project).options(contains_eager(Run.project)).where(Run.id == bindparam("run_id")),
    Run,
)


def get(session: Session, *, run_id: str, principal: Principal) -> Run:
    """The run (its project loaded with it), or 404 when it does not exist or belongs to another owner."""
    run = _BY_ID.execute(session, principal, run_id=run_id).scalar_one_or_none()
    return ensure_owned(run, principal, what=f"run {run_id!r}", param="run_id")


def get_read(session: Session, *, run_id: str, principal: Principal, layout: TrainingLayout) -> RunRead:
    """`get` as the API answers it."""
    return to_read(
        session, run=get(session, run_id=run_id, principal=principal), principal=principal, layout=layout
    )


def list_page(
    session: Session,
    *,
    project: Project,
    limit: int,
    after: str | None = None,
    status: RunStatus | None = None,
) -> tuple[list[Run], bool]:
    """A project's runs, newest first, by keyset on the time-ordered id."""
    stmt = select(Run).where(Run.project_id == project.id)
    if status is not None:
        stmt = stmt.where(Run.status == status.value)
    if (
        after is not None
        and session.scalar(select(Run.id).where(Run.id == after, Run.project_id == project.id)) is None
    ):
        raise NotFound(f"cursor run {after!r} not found", param="after")
    return keyset_page(session, stmt, key=Run.id, limit=limit, after=after)


def queue_position(session: Session, *, run: Run) -> int | None:
    """1 for the next run to start; None once the run has left the queue."""
    return queue_positions(session, runs=[run])[run.id]


def queue_positions(session: Session, *, runs: list[Run]) -> dict[str, int | None]:
    """Each run's place in the queue (see `queue_position`), in one query whatever the number of runs.

    A Slurm run waits in Slurm's queue: its place is Slurm's (kept by `slurm_queue`). The
    others queue here, by id, behind the other pending runs of this host.
    """
    positions: dict[str, int | None] = {run.id: None for run in runs}
    pending = []
    for run in runs:
        if run.status != RunStatus.pending.value:
            continue
        if run.executor == "slurm":
            positions[run.id] = run.executor_queue_position
        else:
            pending.append(run.id)
    if not pending:
        return positions
    ahead = aliased(Run)
    count_ahead = (
        select(func.count())
        .select_from(ahead)
        .where(ahead.status == RunStatus.pending.value, ahead.executor != "slurm", ahead.id < Run.id)
        .scalar_subquery()
    )
    for run_id, count in session.execute(select(Run.id, count_ahead).where(Run.id.in_(pending))):
        positions[run_id] = (count or 0) + 1
    return positions


def _host_paths_hidden(value: str, *, host_root: str) -> str:
    """`value` with the host's training directory written as a relative path."""
    if value == host_root:
        return "."
    return value.replace(host_root + "/", "")


def to_read(session: Session, *, run: Run, principal: Principal, layout: TrainingLayout) -> RunRead:
    """The run as `principal` may see it: a user key gets paths relative to the training directory."""
    return to_reads(session, runs=[run], principal=principal, layout=layout)[0]


def to_reads(
    session: Session, *, runs: list[Run], principal: Principal, layout: TrainingLayout
) -> list[RunRead]:
    """`to_read` for a page of runs, in a fixed number of queries whatever its size."""
    positions = queue_positions(session, runs=runs)
    host_root = None if principal.is_admin else str(layout.training_dir.resolve())
    return [_run_read(run, queue_position=positions[run.id], host_root=host_root) for run in runs]


def _run_read(run: Run, *, queue_position: int | None, host_root: str | None) -> RunRead:
    """`host_root`: the training directory to write as relative paths (None shows host paths, for admins)."""

    def hide(value: str) -> str:
        return value if host_root is None else _host_paths_hidden(value, host_root=host_root)

    error = None
    if run.failure_cause is not None:
        error = RunError(
            cause=FailureCause(run.failure_cause),
            message=run.error_message or run.failure_cause,
            exit_code=run.exit_code,
            log_tail=run.error_tail or [],
        )
    return RunRead(
        id=run.id,
        project=run.project.name,
        owner=run.owner,
        status=RunStatus(run.status),
        executor=run.executor,
        progress=run.progress,
        current_step=run.current_step,
        total_steps=run.total_steps,
        epoch=run.epoch,
        summary=run.summary,
        dataset=run.dataset_ref,
        train_config=run.train_config_ref,
        gpus=run.gpus_requested,
        nodes=run.nodes,
        gpu_ids=run.gpu_ids,
        env=masked_env(run.env),
        note=run.note,
        command=[hide(element) for element in run.command],
        workspace=hide(run.workspace) if run.workspace else None,
        output_dir=hide(run.output_dir) if run.output_dir else None,
        queue_position=queue_position,
        pending_reason=run.pending_reason,
        error=error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def cancel(session: Session, *, run: Run) -> Run:
    """Cancel a pending run at once, or ask the engine to stop a running one (TERM, then KILL)."""
    cancelled = state.request_cancel(session, run_id=run.id)
    session.refresh(run)  # as the guard found it: another engine may have moved it since it was read
    if not cancelled:
        raise Invalid(
            f"run {run.id} is already {run.status}; only pending or running runs can be cancelled",
            param="run_id",
            code="run_finished",
        )
    wakeup.queue_changed(session)
    return run


def delete(session: Session, *, run: Run) -> bool:
    """Delete a finished run with its logs, metrics, artifacts, tuning job and workspace.

    False, and nothing changes, while the run is pending or running.
    """
    workspace = run.workspace
    if not state.delete_finished(session, run_id=run.id):
        return False
    if workspace:
        shutil.rmtree(workspace, ignore_errors=True)
    return True


def append_log_lines(session: Session, *, run: Run, lines: list[str], source: str, tags: list[str]) -> int:
    """Store lines with the next sequence numbers; the run row is locked so numbers never collide."""
    if not lines:
        return run.log_lines
    locked = session.get(Run, run.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    first = locked.log_lines + 1
    joined_tags = " ".join(tags)
    rows = [(run.id, first + i, source, joined_tags, line[:MAX_LOG_LINE]) for i, line in enumerate(lines)]
    _insert_log_rows(session, rows)
    locked.log_lines = first + len(lines) - 1
    return locked.log_lines


def _insert_log_rows(session: Session, rows: list[tuple[str, int, str, str, str]]) -> None:
    """Bulk-insert log rows the fastest way the database offers: COPY on PostgreSQL, executemany on SQLite.

    Log lines arrive by the hundred thousand; SQLAlchemy's per-row parameter handling
    would cost more than the insert itself, so this goes to the driver directly, inside
    the session's transaction.
    """
    connection = session.connection()
    columns = "run_id, seq, source, tags, line"
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY run_log ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(f"INSERT INTO run_log ({columns}) VALUES ({', '.join([mark] * 5)})", rows)


def read_logs(
    session: Session,
    *,
    run: Run,
    after: int = 0,
    limit: int = 100,
    tag: str | None = None,
    tail: int | None = None,
) -> LogPage:
    """Lines oldest first after `after`, or the last `tail` lines."""
    if tail is not None:
        rows = log_tail(session, run_id=run.id, count=tail, tag=tag)
        has_more = False
    else:
        stmt = _log_lines(run.id, tag=tag).where(RunLog.seq > after)
        rows = list(session.scalars(stmt.order_by(RunLog.seq).limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit]
    return LogPage(
        data=[
            LogLine(
                seq=r.seq,
                line=r.line,
                source=r.source,
                tags=r.tags.split() if r.tags else [],
                created_at=r.created_at,
            )
            for r in rows
        ],
        has_more=has_more,
        last_seq=rows[-1].seq if rows else after,
    )


def log_tail(session: Session, *, run_id: str, count: int, tag: str | None = None) -> list[RunLog]:
    """The last `count` log lines (with `tag`, when given), oldest first."""
    stmt = _log_lines(run_id, tag=tag).order_by(RunLog.seq.desc()).limit(count)
    return list(session.scalars(stmt))[::-1]


def _log_lines(run_id: str, *, tag: str | None) -> Select[tuple[RunLog]]:
    stmt = select(RunLog).where(RunLog.run_id == run_id)
    if tag is not None:
        stmt = stmt.where((" " + RunLog.tags + " ").contains(f" {tag} "))
    return stmt


def metrics(session: Session, *, run: Run) -> list[RunMetric]:
    """The run's metric points in step order (points without a step, from older runs, last)."""
    stmt = select(RunMetric).where(RunMetric.run_id == run.id)
    return list(session.scalars(stmt.order_by(RunMetric.step.asc().nulls_last(), RunMetric.id)))


def artifacts(session: Session, *, run: Run) -> list[RunArtifact]:
    return list(
        session.scalars(select(RunArtifact).where(RunArtifact.run_id == run.id).order_by(RunArtifact.path))
    )


def get_artifact(session: Session, *, run: Run, artifact_id: str) -> RunArtifact:
    artifact = session.get(RunArtifact, artifact_id)
    if artifact is None or artifact.run_id != run.id:
        raise NotFound(f"artifact {artifact_id!r} not found in run {run.id}", param="artifact_id")
    return artifact


def artifact_file(run: Run, artifact: RunArtifact, *, layout: TrainingLayout) -> Path:
    """The artifact's file on this host, inside the run's output directory (links resolved), or 404.

    The training process owns its output directory and could swap a registered file for
    a link to somewhere else after the run; only a file still inside the directory is served.
    """
    output = layout.host_path_of(run.executor, run.output_dir) if run.output_dir else None
    try:
        path = resolve_inside(output, artifact.path) if output is not None else None
    except ValueError:
        path = None
    if path is None or not path.is_file():
        raise NotFound(
            f"artifact {artifact.id!r} of run {run.id} is no longer on this host's disk",
            param="artifact_id",
            code="artifact_gone",
        )
    return path


def tag_artifact(session: Session, *, run: Run, artifact_id: str, tags: list[str]) -> RunArtifact:
    artifact = get_artifact(session, run=run, artifact_id=artifact_id)
    artifact.tags = list(dict.fromkeys([*artifact.tags, *tags]))
    session.flush()
    return artifact
