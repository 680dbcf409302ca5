"""The Alembic migrations build exactly the tables the models describe, both ways, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from src.storage import Base, Store
from src.storage.db import MIGRATIONS_DIR


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = Store(url, pool_size=2)
    yield store
    store.dispose()


def schema_diff(store: Store) -> list:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def app_tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_models_and_migrations_agree(empty_store: Store) -> None:
    empty_store.upgrade()
    assert schema_diff(empty_store) == []
    assert app_tables(empty_store) == set(Base.metadata.tables)


def test_downgrade_base_then_upgrade_head(empty_store: Store) -> None:
    empty_store.upgrade()
    empty_store.downgrade("base")
    assert app_tables(empty_store) == set()
    empty_store.upgrade()
    assert schema_diff(empty_store) == []


def test_migration_files_have_dated_names() -> None:
    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert files, "no migrations found"
    assert all(name[:8].isdigit() and name[8] == "_" for name in files), files
