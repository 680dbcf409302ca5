"""a run's end-of-training summary; one metric point per step

Adds `run.summary` (the `train_loss` average, runtime, samples/s), `run.output_step`
(the training step output.log's tqdm bar last showed) and an index on
`run_metric (run_id, step)`, where points are now merged by step.

Existing runs are brought to the same truth: the summary that was stored as one more
`output` point moves into `run.summary`, and a run that wrote trainer_log.jsonl keeps
only those points (its `output` points repeated them with wrong step numbers).
The downgrade drops the new columns and index; the removed duplicates stay removed.

Revision ID: 8f3a6c1d2b94
Revises: 4b1e9c2d7a55
Create Date: 2026-11-30 07:00:00
"""

import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f3a6c1d2b94"
down_revision: str | None = "4b1e9c2d7a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMMARY_KEYS = ("train_runtime", "train_loss")


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("output_step", sa.Integer(), nullable=True))
    with op.batch_alter_table("run_metric", schema=None) as batch_op:
        batch_op.create_index("ix_run_metric_run_id_step", ["run_id", "step"], unique=False)
    _collapse_existing_points(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("run_metric", schema=None) as batch_op:
        batch_op.drop_index("ix_run_metric_run_id_step")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("output_step")
        batch_op.drop_column("summary")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _collapse_existing_points(connection: sa.Connection) -> None:
    run = sa.table("run", sa.column("id", sa.String), sa.column("summary", sa.JSON))
    metric = sa.table(
        "run_metric",
        sa.column("id", sa.Integer),
        sa.column("run_id", sa.String),
        sa.column("source", sa.String),
        sa.column("epoch", sa.Float),
        sa.column("loss", sa.Float),
        sa.column("extra", sa.JSON),
    )
    summaries: dict[str, dict[str, float]] = {}
    summary_points: list[int] = []
    rows = connection.execute(
        sa.select(metric.c.id, metric.c.run_id, metric.c.epoch, metric.c.loss, metric.c.extra)
        .where(metric.c.source == "output")
        .order_by(metric.c.id)
    )
    for point_id, run_id, epoch, loss, extra in rows:
        extra = extra if isinstance(extra, dict) else {}
        if not any(key in extra for key in SUMMARY_KEYS):
            continue
        values = {k: n for k, v in extra.items() if (n := _number(v)) is not None}
        if loss is not None:
            values.setdefault("train_loss", loss)
        if epoch is not None:
            values["epoch"] = epoch
        summaries[run_id] = values
        summary_points.append(point_id)
    for run_id, values in summaries.items():
        connection.execute(sa.update(run).where(run.c.id == run_id).values(summary=values))
    for start in range(0, len(summary_points), 500):
        connection.execute(sa.delete(metric).where(metric.c.id.in_(summary_points[start : start + 500])))
    with_trainer_log = sa.select(metric.c.run_id).where(metric.c.source == "trainer_log").distinct()
    connection.execute(
        sa.delete(metric).where(metric.c.source == "output", metric.c.run_id.in_(with_trainer_log))
    )
