"""tinker_model.user_metadata (create_model's metadata, shown on the training run)

Revision ID: 9c4e7a2f1b63
Revises: 3a8e5c7b9d21
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e7a2f1b63"
down_revision: str | None = "3a8e5c7b9d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tinker_model") as batch:
        batch.add_column(sa.Column("user_metadata", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tinker_model") as batch:
        batch.drop_column("user_metadata")
