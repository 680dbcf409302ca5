"""the project holding an owner's tuning jobs is found by owner, not by name

Revision ID: 4b1e9c2d7a55
Revises: d7a4329b91df
Create Date: 2026-11-30 07:10:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b1e9c2d7a55"
down_revision: str | None = "d7a4329b91df"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tunings_owner", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_project_tunings_owner", ["tunings_owner"])
    # adopt the tuning projects made before: only where the name is the one made for that
    # very owner and the project is theirs (a squatted name adopts nothing)
    connection = op.get_bind()
    project = sa.table(
        "project",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("owner", sa.String),
        sa.column("tunings_owner", sa.String),
    )
    rows = connection.execute(sa.select(project.c.id, project.c.name, project.c.owner)).all()
    adopted: set[str] = set()
    for project_id, name, owner in rows:
        expected = ("tunings-" + re.sub(r"[^a-z0-9_-]", "-", owner.lower()))[:63]
        if name == expected and owner not in adopted:
            adopted.add(owner)
            connection.execute(
                sa.update(project).where(project.c.id == project_id).values(tunings_owner=owner)
            )


def downgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_constraint("uq_project_tunings_owner", type_="unique")
        batch_op.drop_column("tunings_owner")
