"""datasets and train configs

Revision ID: cd221cdefcf6
Revises: 01752cd53bc4
Create Date: 2026-11-22 05:42:15.717131
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cd221cdefcf6"
down_revision: str | None = "01752cd53bc4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "train_config",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("is_slot", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_config")),
    )
    with op.batch_alter_table("train_config", schema=None) as batch_op:
        batch_op.create_index("ix_train_config_owner_id", ["owner", "id"], unique=False)

    op.create_table(
        "dataset",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("task_type", sa.String(length=64), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("train_config_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["train_config_id"],
            ["train_config.id"],
            name=op.f("fk_dataset_train_config_id_train_config"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset")),
    )
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.create_index("ix_dataset_owner_id", ["owner", "id"], unique=False)
        batch_op.create_index("ix_dataset_status_id", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dataset_train_config_id"), ["train_config_id"], unique=False)

    op.create_table(
        "dataset_file",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=300), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["dataset.id"],
            name=op.f("fk_dataset_file_dataset_id_dataset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_dataset_file")),
    )
    with op.batch_alter_table("dataset_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_file_dataset_id"), ["dataset_id"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dataset_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_run_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_run_dataset_id_dataset"), "dataset", ["dataset_id"], ["id"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_run_dataset_id_dataset"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_run_dataset_id"))
        batch_op.drop_column("dataset_id")

    with op.batch_alter_table("dataset_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_file_dataset_id"))

    op.drop_table("dataset_file")
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_train_config_id"))
        batch_op.drop_index("ix_dataset_status_id")
        batch_op.drop_index("ix_dataset_owner_id")

    op.drop_table("dataset")
    with op.batch_alter_table("train_config", schema=None) as batch_op:
        batch_op.drop_index("ix_train_config_owner_id")

    op.drop_table("train_config")
