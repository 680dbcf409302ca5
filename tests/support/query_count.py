"""Count the SQL statements one request runs, to show a list costs the same whatever its page size."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from src.features.runs.service import new_run_id
from src.storage import Store
from src.storage.tables import Dataset, Project, Run, RunArtifact, RunMetric, TuningJob


def statements_for(client: TestClient, path: str, *, headers: dict[str, str]) -> int:
    """How many statements `GET path` runs once warm (the key cache, the identity of the caller)."""
    assert client.get(path, headers=headers).status_code == 200
    engine = client.app.state.store.engine
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    return len(seen)


def seed(store: Store, *, owner: str, count: int) -> None:
    """`count` of each listed thing for `owner`: tagged projects with runs, tuning jobs with
    metrics and files (half still queued), datasets."""
    with store.session_scope() as session:
        project = Project(name=f"{owner}-queries", owner=owner)
        project.tags = ["a", "b"]
        session.add(project)
        session.flush()
        for i in range(count):
            extra = Project(name=f"{owner}-p{i}", owner=owner)
            extra.tags = [f"t{i}"]
            session.add(extra)
            status = "pending" if i % 2 else "succeeded"
            run = Run(id=new_run_id(), project_id=project.id, owner=owner, status=status)
            session.add(run)
            session.flush()
            session.add(Run(id=new_run_id(), project_id=extra.id, owner=owner, status="succeeded"))
            session.add(
                TuningJob(
                    id="job-" + secrets.token_hex(6),
                    run_id=run.id,
                    owner=owner,
                    model="tiny",
                    training_file="train.jsonl",
                    fine_tuned_model=f"tiny:ft-{i}",
                )
            )
            for step in (1, 2):
                session.add(RunMetric(run_id=run.id, source="trainer", step=step, loss=1.0 / step))
            for path in ("adapter_model.safetensors", "checkpoint-1/adapter_model.safetensors"):
                session.add(
                    RunArtifact(
                        id=str(uuid.uuid4()),
                        run_id=run.id,
                        path=path,
                        bytes=1,
                        sha256="0" * 64,
                        kind="adapter",
                    )
                )
            session.add(Dataset(id=str(uuid.uuid4()), owner=owner, name=f"data-{i}", status="ready"))
