"""The run life cycle's guarded transitions: each refuses a run in a state it does not allow."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from src.features.runs import service as runs_service
from src.features.runs import state
from src.models.errors import Invalid
from src.models.runs import FailureCause, RunStatus
from src.storage import Store
from src.storage.tables import Run
from tests.conftest import ALICE_KEY, bearer
from tests.support.rows import add_run

FINISHED = ["succeeded", "failed", "cancelled"]
FAILED = state.Outcome(RunStatus.failed, FailureCause.exit_code, "exited with code 1", 1)


@pytest.fixture
def project(client: TestClient) -> str:
    response = client.post("/projects", json={"name": "life-cycle"}, headers=bearer(ALICE_KEY))
    assert response.status_code == 201, response.text
    return "life-cycle"


def snapshot(store: Store, run_id: str) -> dict[str, object]:
    """Every column of the run's row."""
    with store.session_scope(read_only=True) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return {column.key: getattr(run, column.key) for column in Run.__table__.columns}


def test_claim_wins_once_and_only_from_pending(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="pending")
    with store.session_scope() as session:
        assert state.claim(session, run_id=run_id, gpu_ids=["0"]) is True
    claimed = snapshot(store, run_id)
    assert claimed["status"] == "running" and claimed["gpu_ids"] == ["0"] and claimed["started_at"]
    with store.session_scope() as session:
        assert state.claim(session, run_id=run_id, gpu_ids=["1"]) is False
    assert snapshot(store, run_id) == claimed


@pytest.mark.parametrize("status", FINISHED)
def test_claim_of_a_finished_run_loses(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert state.claim(session, run_id=run_id, gpu_ids=[]) is False
    assert snapshot(store, run_id) == before


@pytest.mark.parametrize("status", ["pending", *FINISHED])
def test_start_needs_a_running_run(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert state.start(session, run_id=run_id, pgid=4242, exec_id=None) is False
    assert snapshot(store, run_id) == before


@pytest.mark.parametrize("status", FINISHED)
def test_cancel_of_a_finished_run_is_refused(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert state.request_cancel(session, run_id=run_id) is False
    with pytest.raises(Invalid) as refused, store.session_scope() as session:
        runs_service.cancel(session, run=session.get(Run, run_id))
    assert refused.value.code == "run_finished" and status in refused.value.message
    assert snapshot(store, run_id) == before


def test_cancel_ends_a_pending_run_and_marks_a_running_one(store: Store, project: str) -> None:
    pending = add_run(store, project=project, status="pending")
    running = add_run(store, project=project, status="running")
    with store.session_scope() as session:
        assert state.request_cancel(session, run_id=pending) is True
        assert state.request_cancel(session, run_id=running) is True
    assert snapshot(store, pending)["status"] == "cancelled"
    assert snapshot(store, pending)["failure_cause"] == "cancelled_by_user"
    assert snapshot(store, running)["status"] == "running"
    assert snapshot(store, running)["cancel_requested"] is True


def test_a_refused_guard_leaves_a_stale_loaded_row_as_the_database_has_it(store: Store, project: str) -> None:
    """A request loaded the run as pending; the engine claimed it meanwhile: cancel asks it to stop."""
    run_id = add_run(store, project=project, status="pending")
    with store.session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == "pending"
        # the claim, as another session would commit it, unseen by this one's loaded row
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status="running")
            .execution_options(synchronize_session=False)
        )
        runs_service.cancel(session, run=run)
        assert run.status == "running" and run.cancel_requested is True
    assert snapshot(store, run_id)["status"] == "running"


@pytest.mark.parametrize("status", ["pending", *FINISHED])
def test_finish_needs_a_running_run(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert state.finish(session, run_id=run_id, outcome=FAILED, tail=["boom"]) is False
    assert snapshot(store, run_id) == before


def test_finish_wins_once(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="running")
    with store.session_scope() as session:
        assert state.finish(session, run_id=run_id, outcome=FAILED, tail=["boom"]) is True
    failed = snapshot(store, run_id)
    assert failed["status"] == "failed" and failed["error_tail"] == ["boom"] and failed["exit_code"] == 1
    with store.session_scope() as session:
        succeeded = state.Outcome(RunStatus.succeeded, exit_code=0)
        assert state.finish(session, run_id=run_id, outcome=succeeded, tail=None) is False
    assert snapshot(store, run_id) == failed


def test_finish_refuses_a_status_that_is_not_terminal(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="running")
    with pytest.raises(ValueError), store.session_scope() as session:
        state.finish(session, run_id=run_id, outcome=state.Outcome(RunStatus.pending), tail=None)
    assert snapshot(store, run_id)["status"] == "running"


@pytest.mark.parametrize("status", ["pending", "running"])
def test_an_unfinished_run_is_not_deleted(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert state.delete_finished(session, run_id=run_id) is False
        assert runs_service.delete(session, run=session.get(Run, run_id)) is False
    assert snapshot(store, run_id) == before


def test_a_finished_run_is_deleted(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="succeeded")
    with store.session_scope() as session:
        assert state.delete_finished(session, run_id=run_id) is True
    with store.session_scope(read_only=True) as session:
        assert session.get(Run, run_id) is None
