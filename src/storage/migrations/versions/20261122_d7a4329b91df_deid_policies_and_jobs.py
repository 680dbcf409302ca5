"""deid policies and jobs

Revision ID: d7a4329b91df
Revises: 183f43e7cadb
Create Date: 2026-11-22 08:27:11.916771
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7a4329b91df"
down_revision: str | None = "183f43e7cadb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deid_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("output_dataset_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("store_mapping", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deid_job")),
    )
    with op.batch_alter_table("deid_job", schema=None) as batch_op:
        batch_op.create_index("ix_deid_job_owner_id", ["owner", "id"], unique=False)
        batch_op.create_index("ix_deid_job_status", ["status"], unique=False)

    op.create_table(
        "deid_policy",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("allow_list", sa.JSON(), nullable=False),
        sa.Column("dictionary", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deid_policy")),
    )
    with op.batch_alter_table("deid_policy", schema=None) as batch_op:
        batch_op.create_index("ix_deid_policy_owner_id", ["owner", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deid_policy", schema=None) as batch_op:
        batch_op.drop_index("ix_deid_policy_owner_id")

    op.drop_table("deid_policy")
    with op.batch_alter_table("deid_job", schema=None) as batch_op:
        batch_op.drop_index("ix_deid_job_status")
        batch_op.drop_index("ix_deid_job_owner_id")

    op.drop_table("deid_job")
