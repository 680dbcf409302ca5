"""tuning jobs are listed newest first by (created_at, id): index that order, per owner and for admins

A page of jobs sorted every job of the owner before taking 21 (job ids are random,
so (owner, id) did not help the sort): the list slowed as jobs accumulated.

Revision ID: c5e2a9f04d18
Revises: 8f3a6c1d2b94
Create Date: 2026-11-30 13:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c5e2a9f04d18"
down_revision: str | None = "8f3a6c1d2b94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.drop_index("ix_tuning_job_owner_id")
        batch_op.create_index(
            "ix_tuning_job_owner_created_at_id", ["owner", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_tuning_job_created_at_id", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.drop_index("ix_tuning_job_created_at_id")
        batch_op.drop_index("ix_tuning_job_owner_created_at_id")
        batch_op.create_index("ix_tuning_job_owner_id", ["owner", "id"], unique=False)
