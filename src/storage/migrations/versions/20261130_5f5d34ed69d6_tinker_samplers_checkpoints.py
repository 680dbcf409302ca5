"""tinker_sampler, tinker_checkpoint: sampling sessions and saved weights of Tinker models

Revision ID: 5f5d34ed69d6
Revises: f5ce6b5ac284
Create Date: 2026-11-30 13:18:51
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5f5d34ed69d6"
down_revision: str | None = "f5ce6b5ac284"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tinker_checkpoint",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tinker_checkpoint")),
        sa.UniqueConstraint("model_id", "kind", "name", name="uq_tinker_checkpoint_model_id_kind_name"),
    )
    with op.batch_alter_table("tinker_checkpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tinker_checkpoint_model_id"), ["model_id"], unique=False)
        batch_op.create_index("ix_tinker_checkpoint_owner_id", ["owner", "id"], unique=False)

    op.create_table(
        "tinker_sampler",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("base_model", sa.String(length=255), nullable=False),
        sa.Column("model_path", sa.String(length=512), nullable=True),
        sa.Column("weights_dir", sa.String(length=1024), nullable=True),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["tinker_session.id"],
            name=op.f("fk_tinker_sampler_session_id_tinker_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tinker_sampler")),
    )
    with op.batch_alter_table("tinker_sampler", schema=None) as batch_op:
        batch_op.create_index("ix_tinker_sampler_owner_id", ["owner", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tinker_sampler_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tinker_sampler_worker_id"), ["worker_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tinker_sampler", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tinker_sampler_worker_id"))
        batch_op.drop_index(batch_op.f("ix_tinker_sampler_session_id"))
        batch_op.drop_index("ix_tinker_sampler_owner_id")

    op.drop_table("tinker_sampler")
    with op.batch_alter_table("tinker_checkpoint", schema=None) as batch_op:
        batch_op.drop_index("ix_tinker_checkpoint_owner_id")
        batch_op.drop_index(batch_op.f("ix_tinker_checkpoint_model_id"))

    op.drop_table("tinker_checkpoint")
