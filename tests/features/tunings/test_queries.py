"""Pages of tuning jobs (ours and OpenAI's shape) cost a fixed number of statements, whatever their size."""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, bearer
from tests.support.query_count import seed, statements_for

ALICE = bearer(ALICE_KEY)


@pytest.mark.parametrize("path", ["/v1/tunings.list", "/v1/fine_tuning/jobs"])
def test_a_page_of_20_jobs_costs_what_a_page_of_2_does(client: TestClient, path: str) -> None:
    seed(client.app.state.store, owner="alice", count=20)
    small = statements_for(client, f"{path}?limit=2", headers=ALICE)
    large = statements_for(client, f"{path}?limit=20", headers=ALICE)
    assert small == large


def test_the_list_shows_each_jobs_metrics_files_and_place(client: TestClient) -> None:
    seed(client.app.state.store, owner="alice", count=4)
    jobs = client.get("/v1/tunings.list?limit=20", headers=ALICE).json()["data"]
    assert len(jobs) == 4
    for job in jobs:
        assert job["metrics"]["train_loss"] == 0.5  # the last step's loss
        assert job["result_files"] == ["adapter_model.safetensors"]  # checkpoints left out
        if job["status"] == "pending":
            assert job["queue_position"] in (1, 2)
        else:
            assert job["queue_position"] is None
