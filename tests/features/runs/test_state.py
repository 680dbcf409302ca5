"""The run life cycle's guarded transitions: each refuses a run in a state it does not allow."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

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


Transition = Callable[[Session, str], bool]
REFUSALS: list[tuple[str, Transition, list[str]]] = [
    (
        "claim",
        lambda session, run_id: state.claim(session, run_id=run_id, gpu_ids=[]),
        ["running", *FINISHED],
    ),
    (
        "start",
        lambda session, run_id: state.start(session, run_id=run_id, pgid=4242, exec_id=None),
        ["pending", *FINISHED],
    ),
    ("request_cancel", lambda session, run_id: state.request_cancel(session, run_id=run_id), FINISHED),
    (
        "finish",
        lambda session, run_id: state.finish(session, run_id=run_id, outcome=FAILED, tail=["boom"]),
        ["pending", *FINISHED],
    ),
    (
        "delete_finished",
        lambda session, run_id: state.delete_finished(session, run_id=run_id),
        ["pending", "running"],
    ),
]


@pytest.mark.parametrize(
    ("transition", "status"),
    [
        pytest.param(transition, status, id=f"{name}-{status}")
        for name, transition, statuses in REFUSALS
        for status in statuses
    ],
)
def test_a_transition_refuses_a_run_it_does_not_allow_and_changes_nothing(
    store: Store, project: str, transition: Transition, status: str
) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
    with store.session_scope() as session:
        assert transition(session, run_id) is False
    assert snapshot(store, run_id) == before


@pytest.mark.parametrize("status", FINISHED)
def test_cancel_of_a_finished_run_is_a_400(store: Store, project: str, status: str) -> None:
    run_id = add_run(store, project=project, status=status)
    before = snapshot(store, run_id)
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


def test_cancel_of_a_run_claimed_since_it_was_read_asks_it_to_stop(store: Store, project: str) -> None:
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


def test_an_unfinished_run_is_not_deleted_by_the_service(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="running")
    with store.session_scope() as session:
        assert runs_service.delete(session, run=session.get(Run, run_id)) is False
    assert snapshot(store, run_id)["status"] == "running"


def test_a_finished_run_is_deleted(store: Store, project: str) -> None:
    run_id = add_run(store, project=project, status="succeeded")
    with store.session_scope() as session:
        assert state.delete_finished(session, run_id=run_id) is True
    with store.session_scope(read_only=True) as session:
        assert session.get(Run, run_id) is None
