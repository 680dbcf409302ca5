"""Runs and deployments on Slurm: a run's node count and place in Slurm's queue; a deployment's executor, job, node and GPU count

Revision ID: e8a1c3d5f702
Revises: b7d2e4f6a813
Create Date: 2026-11-30 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8a1c3d5f702"
down_revision: str | None = "b7d2e4f6a813"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("nodes", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("executor_queue_position", sa.Integer(), nullable=True))
    with op.batch_alter_table("deployment") as batch:
        batch.add_column(sa.Column("executor", sa.String(length=16), nullable=False, server_default="local"))
        batch.add_column(sa.Column("job_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("node", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("gpu_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.drop_column("gpu_count")
        batch.drop_column("node")
        batch.drop_column("job_id")
        batch.drop_column("executor")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("executor_queue_position")
        batch.drop_column("nodes")
