"""the default de-identification policy finds Chinese person names and addresses

PERSON and ADDRESS became built-in types; a new install's default policy lists them
(every built-in type, replaced). An existing default policy gets the two with the
`replace` operator, unless it already lists them (an admin's own choice stays). The
downgrade takes them out again, except where the policy's dictionary defines them.

Revision ID: 3ec30d63f808
Revises: e8a1c3d5f702
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "3ec30d63f808"
down_revision: str | None = "e8a1c3d5f702"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_POLICY_ID = "default"
NEW_TYPES = ("PERSON", "ADDRESS")
Entities = dict[str, Any]  # entity type -> its operator settings

policy = sa.table(
    "deid_policy",
    sa.column("id", sa.String),
    sa.column("entities", sa.JSON),
    sa.column("dictionary", sa.JSON),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    _rewrite_entities(
        lambda entities, dictionary: {
            **entities,
            **{name: {"operator": "replace"} for name in NEW_TYPES if name not in entities},
        }
    )


def downgrade() -> None:
    _rewrite_entities(
        lambda entities, dictionary: {
            name: rule for name, rule in entities.items() if name not in NEW_TYPES or name in dictionary
        }
    )


def _rewrite_entities(change: Callable[[Entities, dict[str, Any]], Entities]) -> None:
    """Apply `change(entities, dictionary)` to the default policy's entity types, if the policy exists."""
    connection = op.get_bind()
    row = connection.execute(
        sa.select(policy.c.entities, policy.c.dictionary).where(policy.c.id == DEFAULT_POLICY_ID)
    ).first()
    if row is None:
        return  # a new install: the service creates the policy with every built-in type
    entities, dictionary = dict(row.entities or {}), dict(row.dictionary or {})
    changed = change(entities, dictionary)
    if changed != entities:
        connection.execute(
            sa.update(policy)
            .where(policy.c.id == DEFAULT_POLICY_ID)
            .values(entities=changed, updated_at=datetime.now(UTC))
        )
