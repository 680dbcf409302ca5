"""A page of runs costs a fixed number of statements, whatever its size (queue positions included)."""

from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, bearer
from tests.support.query_count import seed, statements_for

ALICE = bearer(ALICE_KEY)


def test_a_page_of_20_runs_costs_what_a_page_of_2_does(client: TestClient) -> None:
    seed(client.app.state.store, owner="alice", count=20)
    small = statements_for(client, "/projects/alice-queries/runs?limit=2", headers=ALICE)
    large = statements_for(client, "/projects/alice-queries/runs?limit=20", headers=ALICE)
    assert small == large
    page = client.get("/projects/alice-queries/runs?limit=20", headers=ALICE).json()["data"]
    assert sorted(run["queue_position"] for run in page if run["queue_position"] is not None) == list(
        range(1, 11)
    )


def test_a_write_through_a_loaded_run_opens_one_session(client: TestClient, monkeypatch) -> None:
    seed(client.app.state.store, owner="alice", count=1)
    run_id = client.get("/projects/alice-queries/runs", headers=ALICE).json()["data"][0]["id"]
    store = client.app.state.store
    opened: list[bool] = []
    real_session = store.session

    def counting_session(*, read_only: bool = False):
        opened.append(read_only)
        return real_session(read_only=read_only)

    monkeypatch.setattr(store, "session", counting_session)
    response = client.post(f"/runs/{run_id}/logs", json={"line": "hello"}, headers=ALICE)
    assert response.status_code == 201, response.text
    assert opened == [False]  # the loader and the handler share the request's write session
