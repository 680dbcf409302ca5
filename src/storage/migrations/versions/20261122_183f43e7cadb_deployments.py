"""deployments

Revision ID: 183f43e7cadb
Revises: 2d7251940070
Create Date: 2026-11-22 06:59:58.568016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "183f43e7cadb"
down_revision: str | None = "2d7251940070"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("model_path", sa.String(length=1024), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=True),
        sa.Column("served_model_name", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("extra_args", sa.JSON(), nullable=False),
        sa.Column("gpu_ids", sa.JSON(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("health_ok", sa.Boolean(), nullable=False),
        sa.Column("failed_polls", sa.Integer(), nullable=False),
        sa.Column("command", sa.JSON(), nullable=False),
        sa.Column("log_file", sa.String(length=1024), nullable=False),
        sa.Column("health_path", sa.String(length=255), nullable=False),
        sa.Column("base_url", sa.String(length=255), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_owner_id", ["owner", "id"], unique=False)
        batch_op.create_index("ix_deployment_status", ["status"], unique=False)

    op.create_table(
        "port_lease",
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=16), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("port", name=op.f("pk_port_lease")),
    )
    with op.batch_alter_table("port_lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_port_lease_deployment_id"), ["deployment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("port_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_port_lease_deployment_id"))

    op.drop_table("port_lease")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_status")
        batch_op.drop_index("ix_deployment_owner_id")

    op.drop_table("deployment")
