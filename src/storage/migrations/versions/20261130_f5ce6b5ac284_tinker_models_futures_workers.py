"""tinker_model, tinker_future, tinker_worker: Tinker LoRA models, their requests, and the processes that run them

Revision ID: f5ce6b5ac284
Revises: 7d3b1f6e2a90
Create Date: 2026-11-30 13:08:25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f5ce6b5ac284"
down_revision: str | None = "7d3b1f6e2a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tinker_future",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("seq_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("result_format", sa.String(length=8), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tinker_future")),
        sa.UniqueConstraint("model_id", "seq_id", name="uq_tinker_future_model_id_seq_id"),
    )
    with op.batch_alter_table("tinker_future", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tinker_future_model_id_status_seq_id", ["model_id", "status", "seq_id"], unique=False
        )
        batch_op.create_index("ix_tinker_future_worker_id_status", ["worker_id", "status"], unique=False)

    op.create_table(
        "tinker_worker",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("base_model", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("command", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tinker_worker")),
    )
    with op.batch_alter_table("tinker_worker", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tinker_worker_base_model"), ["base_model"], unique=False)

    op.create_table(
        "tinker_model",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("base_model", sa.String(length=255), nullable=False),
        sa.Column("lora_rank", sa.Integer(), nullable=False),
        sa.Column("lora_config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["tinker_session.id"],
            name=op.f("fk_tinker_model_session_id_tinker_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tinker_model")),
    )
    with op.batch_alter_table("tinker_model", schema=None) as batch_op:
        batch_op.create_index("ix_tinker_model_owner_id", ["owner", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tinker_model_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tinker_model_worker_id"), ["worker_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tinker_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tinker_model_worker_id"))
        batch_op.drop_index(batch_op.f("ix_tinker_model_session_id"))
        batch_op.drop_index("ix_tinker_model_owner_id")

    op.drop_table("tinker_model")
    with op.batch_alter_table("tinker_worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tinker_worker_base_model"))

    op.drop_table("tinker_worker")
    with op.batch_alter_table("tinker_future", schema=None) as batch_op:
        batch_op.drop_index("ix_tinker_future_worker_id_status")
        batch_op.drop_index("ix_tinker_future_model_id_status_seq_id")

    op.drop_table("tinker_future")
