"""tuning jobs

Revision ID: e0b118a6ff76
Revises: df4ec7a69b18
Create Date: 2026-11-22 06:28:57.234195
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e0b118a6ff76"
down_revision: str | None = "df4ec7a69b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tuning_job",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("training_file", sa.String(length=255), nullable=False),
        sa.Column("validation_file", sa.String(length=255), nullable=True),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("suffix", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("fine_tuned_model", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_tuning_job_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_job")),
        sa.UniqueConstraint("run_id", name=op.f("uq_tuning_job_run_id")),
    )
    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tuning_job_fine_tuned_model"), ["fine_tuned_model"], unique=False
        )
        batch_op.create_index("ix_tuning_job_owner_id", ["owner", "id"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workdir", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("workdir")

    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.drop_index("ix_tuning_job_owner_id")
        batch_op.drop_index(batch_op.f("ix_tuning_job_fine_tuned_model"))

    op.drop_table("tuning_job")
