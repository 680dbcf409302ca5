"""runs engine

Existing run rows get server defaults for the new NOT NULL columns.

Revision ID: df4ec7a69b18
Revises: cd221cdefcf6
Create Date: 2026-11-22 06:07:43.362751
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "df4ec7a69b18"
down_revision: str | None = "cd221cdefcf6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gpu_lease",
        sa.Column("gpu_id", sa.String(length=32), nullable=False),
        sa.Column("holder_type", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gpu_id", name=op.f("pk_gpu_lease")),
    )
    with op.batch_alter_table("gpu_lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gpu_lease_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "run_artifact",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_artifact_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_artifact")),
        sa.UniqueConstraint("run_id", "path", name="uq_run_artifact_run_id_path"),
    )
    with op.batch_alter_table("run_artifact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_artifact_run_id"), ["run_id"], unique=False)

    op.create_table(
        "run_log",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.String(length=255), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_log_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_run_log")),
    )
    op.create_table(
        "run_metric",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("epoch", sa.Double(), nullable=True),
        sa.Column("loss", sa.Double(), nullable=True),
        sa.Column("eval_loss", sa.Double(), nullable=True),
        sa.Column("lr", sa.Double(), nullable=True),
        sa.Column("grad_norm", sa.Double(), nullable=True),
        sa.Column("throughput", sa.Double(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_metric_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_metric")),
    )
    with op.batch_alter_table("run_metric", schema=None) as batch_op:
        batch_op.create_index("ix_run_metric_run_id_id", ["run_id", "id"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("executor", sa.String(length=16), nullable=False, server_default=sa.text("'local'"))
        )
        batch_op.add_column(sa.Column("dataset_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("train_config_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("gpus_requested", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("gpu_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("env", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("command", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("workspace", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("output_dir", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("pgid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("exec_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("exit_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failure_cause", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("error_tail", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("pending_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("progress", sa.Double(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column("current_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("total_steps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("epoch", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("log_offset", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("trainer_log_offset", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("log_lines", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_run_project_id_id", ["project_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index("ix_run_project_id_id")
        batch_op.drop_column("last_activity_at")
        batch_op.drop_column("started_at")
        batch_op.drop_column("log_lines")
        batch_op.drop_column("trainer_log_offset")
        batch_op.drop_column("log_offset")
        batch_op.drop_column("epoch")
        batch_op.drop_column("total_steps")
        batch_op.drop_column("current_step")
        batch_op.drop_column("progress")
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("pending_reason")
        batch_op.drop_column("error_tail")
        batch_op.drop_column("error_message")
        batch_op.drop_column("failure_cause")
        batch_op.drop_column("exit_code")
        batch_op.drop_column("exec_id")
        batch_op.drop_column("pgid")
        batch_op.drop_column("output_dir")
        batch_op.drop_column("workspace")
        batch_op.drop_column("command")
        batch_op.drop_column("note")
        batch_op.drop_column("env")
        batch_op.drop_column("gpu_ids")
        batch_op.drop_column("gpus_requested")
        batch_op.drop_column("train_config_ref")
        batch_op.drop_column("dataset_ref")
        batch_op.drop_column("executor")

    with op.batch_alter_table("run_metric", schema=None) as batch_op:
        batch_op.drop_index("ix_run_metric_run_id_id")

    op.drop_table("run_metric")
    op.drop_table("run_log")
    with op.batch_alter_table("run_artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_artifact_run_id"))

    op.drop_table("run_artifact")
    with op.batch_alter_table("gpu_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gpu_lease_holder_id"))

    op.drop_table("gpu_lease")
