"""The Alembic migrations build exactly the tables the models describe, both ways, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

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


def test_existing_runs_get_one_point_per_step_and_their_summary(empty_store: Store) -> None:
    """Rows written before the merge: output points repeated trainer_log's, and the summary was a point."""
    empty_store.upgrade("4b1e9c2d7a55")
    project, run, metric = (Base.metadata.tables[name] for name in ("project", "run", "run_metric"))
    with empty_store.engine.begin() as connection:
        connection.execute(insert(project).values(id=1, name="p", owner="alice"))
        for run_id in ("both", "output-only"):
            connection.execute(insert(run).values(id=run_id, project_id=1, owner="alice"))
        points = [
            ("both", "output", 21, 1.9, {}),  # its step came from "Loading weights 21/21"
            ("both", "trainer_log", 1, 1.9, {}),
            ("both", "output", 1, 1.8, {}),
            ("both", "trainer_log", 2, 1.8, {}),
            ("both", "output", 2, 1.85, {"train_runtime": "0.5", "train_loss": 1.85}),
            ("output-only", "output", 1, 1.5, {}),
            ("output-only", "output", 1, 1.5, {"train_runtime": 0.2, "train_samples_per_second": 9.0}),
        ]
        for run_id, source, step, loss, extra in points:
            connection.execute(
                insert(metric).values(run_id=run_id, source=source, step=step, loss=loss, extra=extra)
            )
    empty_store.upgrade()
    with empty_store.engine.connect() as connection:
        kept = connection.execute(
            select(metric.c.run_id, metric.c.source, metric.c.step).order_by(metric.c.id)
        )
        assert [tuple(row) for row in kept] == [
            ("both", "trainer_log", 1),
            ("both", "trainer_log", 2),
            ("output-only", "output", 1),
        ]
        summaries = dict(connection.execute(select(run.c.id, run.c.summary)).all())
    assert summaries == {
        "both": {"train_runtime": 0.5, "train_loss": 1.85},
        "output-only": {"train_runtime": 0.2, "train_samples_per_second": 9.0, "train_loss": 1.5},
    }
    empty_store.downgrade("4b1e9c2d7a55")
    assert "summary" not in {c["name"] for c in inspect(empty_store.engine).get_columns("run")}
