"""A page of datasets costs a fixed number of statements, whatever its size."""

from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, bearer
from tests.support.query_count import seed, statements_for

ALICE = bearer(ALICE_KEY)


def test_a_page_of_20_datasets_costs_what_a_page_of_2_does(client: TestClient) -> None:
    seed(client.app.state.store, owner="alice", count=20)
    small = statements_for(client, "/v1/datasets?limit=2", headers=ALICE)
    large = statements_for(client, "/v1/datasets?limit=20", headers=ALICE)
    assert small == large
