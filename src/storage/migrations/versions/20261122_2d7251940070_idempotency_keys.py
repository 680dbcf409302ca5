"""idempotency keys

Revision ID: 2d7251940070
Revises: e0b118a6ff76
Create Date: 2026-11-22 06:42:36.943028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2d7251940070"
down_revision: str | None = "e0b118a6ff76"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint("uq_tuning_job_owner_idempotency_key", ["owner", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("tuning_job", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tuning_job_owner_idempotency_key", type_="unique")
        batch_op.drop_column("idempotency_key")
