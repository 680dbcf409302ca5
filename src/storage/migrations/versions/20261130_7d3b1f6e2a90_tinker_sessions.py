"""tinker_session: sessions of the Tinker-compatible API

Revision ID: 7d3b1f6e2a90
Revises: c5e2a9f04d18
Create Date: 2026-11-30 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3b1f6e2a90"
down_revision: str | None = "c5e2a9f04d18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tinker_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("user_metadata", sa.JSON(), nullable=True),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("sdk_version", sa.String(length=64), nullable=True),
        sa.Column("finish_reason", sa.String(length=16), nullable=True),
        sa.Column("finish_detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tinker_session_owner_id", "tinker_session", ["owner", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tinker_session_owner_id", table_name="tinker_session")
    op.drop_table("tinker_session")
