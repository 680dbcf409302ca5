"""tinker_session.client, idle_timeout_s (runs of the plain /v1/runs API); deployment.checkpoint;
tinker_future (owner, status) for the backlog cap

Revision ID: 3a8e5c7b9d21
Revises: 5f5d34ed69d6
Create Date: 2026-11-30 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3a8e5c7b9d21"
down_revision: str | None = "5f5d34ed69d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tinker_session") as batch:
        batch.add_column(sa.Column("client", sa.String(length=16), nullable=False, server_default="sdk"))
        batch.add_column(sa.Column("idle_timeout_s", sa.Integer(), nullable=True))
    with op.batch_alter_table("deployment") as batch:
        batch.add_column(sa.Column("checkpoint", sa.String(length=512), nullable=True))
    op.create_index("ix_tinker_future_owner_status", "tinker_future", ["owner", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tinker_future_owner_status", table_name="tinker_future")
    with op.batch_alter_table("deployment") as batch:
        batch.drop_column("checkpoint")
    with op.batch_alter_table("tinker_session") as batch:
        batch.drop_column("idle_timeout_s")
        batch.drop_column("client")
