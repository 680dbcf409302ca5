"""Direct inserts for rows that have no API yet in the feature under test."""

from __future__ import annotations

from sqlalchemy import select

from src.features.runs.service import new_run_id
from src.storage import Store
from src.storage.tables import Project, Run


def add_run(store: Store, *, project: str, status: str, dataset_id: str | None = None) -> str:
    """Insert a run of `project` with `status`; returns its id."""
    with store.session_scope() as session:
        found = session.scalar(select(Project).where(Project.name == project))
        assert found is not None, project
        run = Run(
            id=new_run_id(),
            project_id=found.id,
            owner=found.owner,
            status=status,
            dataset_id=dataset_id,
        )
        session.add(run)
    return run.id


def set_run_status(store: Store, *, run_id: str, status: str) -> None:
    with store.session_scope() as session:
        session.get(Run, run_id).status = status
