"""gpu_hold (history of GPU holds for the dashboard's timeline) and ui_session (dashboard logins)

Revision ID: b7d2e4f6a813
Revises: 9c4e7a2f1b63
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d2e4f6a813"
down_revision: str | None = "9c4e7a2f1b63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gpu_hold",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gpu_id", sa.String(length=32), nullable=False),
        sa.Column("holder_type", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gpu_hold")),
    )
    op.create_index(op.f("ix_gpu_hold_holder_id"), "gpu_hold", ["holder_id"])
    op.create_index("ix_gpu_hold_ended_at_started_at", "gpu_hold", ["ended_at", "started_at"])
    # the holds of today's leases start the history
    op.execute(
        "INSERT INTO gpu_hold (gpu_id, holder_type, holder_id, started_at) "
        "SELECT gpu_id, holder_type, holder_id, acquired_at FROM gpu_lease"
    )
    op.create_table(
        "ui_session",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_key.id"], name=op.f("fk_ui_session_key_id_api_key"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_ui_session")),
    )
    op.create_index(op.f("ix_ui_session_key_id"), "ui_session", ["key_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ui_session_key_id"), table_name="ui_session")
    op.drop_table("ui_session")
    op.drop_index("ix_gpu_hold_ended_at_started_at", table_name="gpu_hold")
    op.drop_index(op.f("ix_gpu_hold_holder_id"), table_name="gpu_hold")
    op.drop_table("gpu_hold")
