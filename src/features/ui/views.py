"""What the run pages show, read from the store in one place: the GPU timeline, the queue,
running runs with sparklines, recent failures, run lists with filters, a run's config, and
the config diff of runs compared.

Every read goes through `owned()` (src/storage/scoping.py): a user key sees only its
owner's runs, and another owner's GPU hold only as "another owner".
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, contains_eager

from src.features.auth.service import Principal
from src.features.gpus import service as gpus_service
from src.features.runs import service as runs_service
from src.features.runs.workspace import TrainingLayout
from src.models.runs import RunStatus
from src.storage.scoping import owned
from src.storage.tables import Deployment, GpuHold, Project, Run, RunMetric
from src.storage.types import utcnow

# the windows the GPU timeline offers, in minutes; an hour unless the page asks
TIMELINE_WINDOWS = (15, 60, 360, 1440)
TIMELINE_DEFAULT = 60
SPARK_POINTS = 60
CONFIG_BYTES = 64 * 1024
RUNS_PAGE = 100


# ---- GPU timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    holder_type: str  # run, deployment, tinker_worker, or "hidden" (another owner's)
    holder_id: str | None
    label: str
    href: str | None
    left: float  # percent of the window
    width: float
    started_at: datetime
    ended_at: datetime | None


@dataclass
class GpuRow:
    host: str
    gpu_id: str
    bars: list[Bar] = field(default_factory=list)

    @property
    def holder(self) -> Bar | None:
        """The hold this GPU is under now, if any."""
        return next((bar for bar in self.bars if bar.ended_at is None), None)


def _holder_href(holder_type: str, holder_id: str) -> str | None:
    if holder_type == "run":
        return f"/ui/runs/{holder_id}"
    if holder_type == "deployment":
        return f"/ui/deployments/{holder_id}"
    return None


def gpu_timeline(
    session: Session, *, principal: Principal, gpu_ids: list[str], minutes: int = TIMELINE_DEFAULT
) -> tuple[list[GpuRow], list[str]]:
    """A row per GPU of this host with a bar per hold over the last `minutes`, and the axis labels.

    Runs, deployments and interactive-training workers share the ledger, so they share the
    rows. A hold another owner made is drawn, without its id, as "another owner".
    """
    now = utcnow()
    since = now - timedelta(minutes=minutes)
    span = (now - since).total_seconds()
    host = socket.gethostname()
    holds = gpus_service.holds_since(session, since=since)
    owners = gpus_service.holder_owners(session, holds) if principal.owner_scope is not None else {}
    rows = {gpu_id: GpuRow(host=host, gpu_id=gpu_id) for gpu_id in gpu_ids}
    for hold in holds:
        row = rows.setdefault(hold.gpu_id, GpuRow(host=host, gpu_id=hold.gpu_id))
        start = max(hold.started_at, since)
        end = hold.ended_at or now
        left = (start - since).total_seconds() / span * 100
        width = max((end - start).total_seconds() / span * 100, 1.0)  # a short hold stays visible
        left = min(left, 100 - width)
        key = (hold.holder_type, hold.holder_id)
        visible = (
            principal.owner_scope is None
            or hold.holder_type == "tinker_worker"
            or owners.get(key) == principal.owner_scope
        )
        if visible:
            label = f"{hold.holder_type.replace('_', ' ')} {hold.holder_id}"
            row.bars.append(
                Bar(
                    hold.holder_type,
                    hold.holder_id,
                    label,
                    _holder_href(*key),
                    left,
                    width,
                    hold.started_at,
                    hold.ended_at,
                )
            )
        else:
            row.bars.append(
                Bar("hidden", None, "another owner", None, left, width, hold.started_at, hold.ended_at)
            )
    ticks = [(since + timedelta(minutes=minutes * i / 6)).astimezone(UTC).strftime("%H:%M") for i in range(7)]
    return sorted(rows.values(), key=lambda row: (row.host, _gpu_sort_key(row.gpu_id))), ticks


def _gpu_sort_key(gpu_id: str) -> tuple[int, str]:
    return (int(gpu_id), "") if gpu_id.isdigit() else (1 << 30, gpu_id)


# ---- queue, running runs, failures ------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    run: Run
    position: int
    eta_seconds: float | None


def _typical_duration(session: Session) -> float | None:
    """The median length of the last 20 runs that succeeded: the basis of queue estimates."""
    rows = session.execute(
        select(Run.started_at, Run.finished_at)
        .where(
            Run.status == RunStatus.succeeded.value, Run.started_at.is_not(None), Run.finished_at.is_not(None)
        )
        .order_by(Run.finished_at.desc())
        .limit(20)
    ).all()
    durations = sorted((end - start).total_seconds() for start, end in rows if end and start)
    return durations[len(durations) // 2] if durations else None


def queue(session: Session, *, principal: Principal, slots: int, limit: int = 20) -> list[Queued]:
    """Pending runs the caller may see, in start order, with their place in the whole queue.

    The ETA is an estimate: how many rounds of `slots` runs start before this one, times
    the median length of recent successful runs. It knows nothing of GPU needs.
    """
    stmt = owned(select(Run).join(Run.project).options(contains_eager(Run.project)), Run, principal).where(
        Run.status == RunStatus.pending.value
    )
    runs = list(session.scalars(stmt.order_by(Run.id).limit(limit)))
    positions = runs_service.queue_positions(session, runs=runs)
    typical = _typical_duration(session)
    queued = []
    for run in runs:
        position = positions.get(run.id) or 0
        eta = math.ceil(position / max(slots, 1)) * typical if typical is not None else None
        queued.append(Queued(run=run, position=position, eta_seconds=eta))
    return queued


def sparkline(losses: list[float], *, width: int = 120, height: int = 28) -> str:
    """The points of an SVG polyline for a loss series (an empty string for fewer than two)."""
    values = [v for v in losses if v is not None and math.isfinite(v)]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    spread = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / spread * (height - 4):.1f}" for i, v in enumerate(values)
    )


def running(session: Session, *, principal: Principal, limit: int = 20) -> list[tuple[Run, str]]:
    """Running runs the caller may see, each with the sparkline of its last losses."""
    stmt = owned(select(Run).join(Run.project).options(contains_eager(Run.project)), Run, principal).where(
        Run.status == RunStatus.running.value
    )
    runs = list(session.scalars(stmt.order_by(Run.started_at.desc()).limit(limit)))
    out = []
    for run in runs:
        losses = session.scalars(
            select(RunMetric.loss)
            .where(RunMetric.run_id == run.id, RunMetric.loss.is_not(None))
            .order_by(RunMetric.step.desc().nulls_last(), RunMetric.id.desc())
            .limit(SPARK_POINTS)
        ).all()
        out.append((run, sparkline(list(reversed(losses)))))
    return out


def recent_failures(session: Session, *, principal: Principal, limit: int = 5) -> list[Run]:
    stmt = owned(select(Run).join(Run.project).options(contains_eager(Run.project)), Run, principal).where(
        Run.status == RunStatus.failed.value
    )
    return list(session.scalars(stmt.order_by(Run.finished_at.desc().nulls_last()).limit(limit)))


def live_deployments(session: Session, *, principal: Principal) -> list[Deployment]:
    stmt = owned(select(Deployment), Deployment, principal).where(
        Deployment.status.in_(("starting", "running"))
    )
    return list(session.scalars(stmt.order_by(Deployment.created_at.desc())))


# ---- the runs list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilters:
    status: str | None = None
    project: str | None = None
    owner: str | None = None
    text: str | None = None

    def query(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("status", self.status),
                ("project", self.project),
                ("owner", self.owner),
                ("q", self.text),
            )
            if v
        }


def filtered_runs(
    session: Session, *, principal: Principal, filters: RunFilters, limit: int = RUNS_PAGE
) -> list[Run]:
    """The runs the caller may see that match the filters, newest first.

    `owner` narrows an admin's view; a user's view is its own owner's whatever it asks.
    `text` matches the run id, the project name, the note or the failure message.
    """
    stmt = owned(select(Run).join(Run.project).options(contains_eager(Run.project)), Run, principal)
    if filters.status:
        stmt = stmt.where(Run.status == filters.status)
    if filters.project:
        stmt = stmt.where(Project.name == filters.project)
    if filters.owner and principal.is_admin:
        stmt = stmt.where(Run.owner == filters.owner)
    if filters.text:
        pattern = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                Run.id.ilike(pattern, escape="\\"),
                Project.name.ilike(pattern, escape="\\"),
                Run.note.ilike(pattern, escape="\\"),
                Run.error_message.ilike(pattern, escape="\\"),
            )
        )
    return list(session.scalars(stmt.order_by(Run.id.desc()).limit(limit)))


def filter_choices(session: Session, *, principal: Principal) -> tuple[list[str], list[str]]:
    """The project names and (for admins) owners the filter menus offer."""
    projects = session.scalars(owned(select(Project.name), Project, principal).order_by(Project.name)).all()
    owners = (
        session.scalars(select(Run.owner).group_by(Run.owner).order_by(Run.owner)).all()
        if principal.is_admin
        else []
    )
    return list(projects), list(owners)


# ---- one run: metrics, config ----------------------------------------------------------------


def metric_points(session: Session, *, run: Run, from_step: int) -> list[dict[str, Any]]:
    """The run's metric points from `from_step` on (that step again: it may have gained an eval loss)."""
    stmt = select(RunMetric).where(RunMetric.run_id == run.id)
    if from_step > 0:
        stmt = stmt.where(RunMetric.step >= from_step)
    rows = session.scalars(stmt.order_by(RunMetric.step.asc().nulls_last(), RunMetric.id))
    return [
        {
            "step": row.step,
            "epoch": row.epoch,
            "time": row.created_at.timestamp(),
            "loss": _finite(row.loss),
            "eval_loss": _finite(row.eval_loss),
            "lr": _finite(row.lr),
        }
        for row in rows
    ]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def config_text(run: Run, *, principal: Principal, layout: TrainingLayout) -> str | None:
    """The run's staged training YAML, with host paths hidden from user keys as the API hides them."""
    if not run.workspace:
        return None
    path = Path(run.workspace) / "train.yaml"
    try:
        with path.open("rb") as handle:
            text = handle.read(CONFIG_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not principal.is_admin:
        root = str(layout.training_dir.resolve())
        text = text.replace(root + "/", "").replace(root, ".")
    return text


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {
        prefix: value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    }


def run_settings(run: Run, *, principal: Principal, layout: TrainingLayout) -> dict[str, str]:
    """What a run was asked to do, flattened to dotted keys: its fields and its training YAML.

    Workspace-specific paths (output_dir, the staged dataset) differ for every run, so
    they are left out: a diff should show what was chosen, not where it was written.
    """
    fields = {
        "project": run.project.name,
        "executor": run.executor,
        "dataset": run.dataset_ref,
        "train_config": run.train_config_ref,
        "gpus": run.gpus_requested,
        "env": run.env,
        # the staged YAML's path is the run's own workspace: written the same for every run
        "command": " ".join(run.command).replace(run.workspace or "\0", "<workspace>"),
    }
    flat = _flatten({k: v for k, v in fields.items() if v not in (None, {}, "")})
    text = config_text(run, principal=principal, layout=layout)
    if text:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            document = None
        if isinstance(document, dict):
            for key in ("output_dir", "logging_dir", "dataset_dir"):
                document.pop(key, None)
            flat.update(_flatten(document, "yaml"))
    return flat


def config_diff(settings: list[dict[str, str]]) -> list[tuple[str, list[str | None]]]:
    """The keys whose values differ between the runs, each with every run's value (None: unset)."""
    keys = sorted(set().union(*settings)) if settings else []
    return [(key, values) for key in keys if len(set(values := [s.get(key) for s in settings])) > 1]


def visible_runs(session: Session, *, principal: Principal, run_ids: list[str]) -> list[Run]:
    """The runs among `run_ids` the caller may see, in the order asked (each a 404 otherwise)."""
    return [runs_service.get(session, run_id=run_id, principal=principal) for run_id in run_ids]


def hold_history(session: Session, *, holder_type: str, holder_id: str) -> list[GpuHold]:
    return list(
        session.scalars(
            select(GpuHold)
            .where(GpuHold.holder_type == holder_type, GpuHold.holder_id == holder_id)
            .order_by(GpuHold.started_at)
        )
    )
