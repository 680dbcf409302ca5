"""Owner scoping, per resource type: another owner's id is a 404 on every verb, and lists never leak it.

The rows are Alice's, written straight into the store (finished, so no engine picks
them up); Bob asks for them by id and lists his own. Restarting or removing a
deployment needs the deployment manager (503 without one), so those two run on an
app that has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, select

from src.models.errors import NotFound
from src.storage import tables
from src.storage.scoping import OwnedQuery, ensure_owned, get_owned, may_see, owned
from tests.conftest import ALICE_KEY, BOB_KEY, bearer

ALICE = bearer(ALICE_KEY)
BOB = bearer(BOB_KEY)


@pytest.fixture
def alices_rows(client: TestClient) -> TestClient:
    _add_alices_rows(client)
    return client


def _add_alices_rows(client: TestClient) -> None:
    with client.app.state.store.session_scope() as session:
        project = tables.Project(name="alices", owner="alice")
        session.add(project)
        session.flush()
        session.add(
            tables.Run(
                id="run-a11ce0000000000000000000000a",
                project_id=project.id,
                owner="alice",
                status="succeeded",
            )
        )
        session.flush()
        session.add(
            tables.TuningJob(
                id="job-a11ce0000001",
                run_id="run-a11ce0000000000000000000000a",
                owner="alice",
                model="tiny",
                training_file="a11ce000-0000-4000-8000-000000000001",
                fine_tuned_model="tiny:ft-alice",
            )
        )
        session.add(
            tables.Dataset(
                id="a11ce000-0000-4000-8000-000000000001", owner="alice", name="alices-data", status="ready"
            )
        )
        session.add(
            tables.TrainConfig(
                id="a11ce000-0000-4000-8000-000000000002",
                owner="alice",
                name="a.yaml",
                filename="a.yaml",
                size=1,
                sha256="0" * 64,
            )
        )
        session.add(
            tables.DeidPolicy(
                id="a11ce000-0000-4000-8000-000000000003", owner="alice", name="alices", secret="00"
            )
        )
        session.add(
            tables.DeidJob(
                id="a11ce000-0000-4000-8000-000000000004",
                owner="alice",
                dataset_id="a11ce000-0000-4000-8000-000000000001",
                output_dataset_id="a11ce000-0000-4000-8000-0000000000ff",
                policy_id="a11ce000-0000-4000-8000-000000000003",
                policy={},
                status="succeeded",
            )
        )
        session.add(
            tables.Deployment(
                id="dep-a11ce0000001",
                owner="alice",
                model_path="/nowhere",
                served_model_name="alices-model",
                port=1,
                log_file="/nowhere/log",
                base_url="http://127.0.0.1:1",
                status="stopped",
            )
        )


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict | None = None


ANOTHER_OWNERS_IDS = [
    Call("GET", "/projects/alices"),
    Call("PATCH", "/projects/alices", {"description": "mine now"}),
    Call("DELETE", "/projects/alices"),
    Call("GET", "/projects/alices/runs"),
    Call("GET", "/runs/run-a11ce0000000000000000000000a"),
    Call("POST", "/runs/run-a11ce0000000000000000000000a/cancel"),
    Call("GET", "/runs/run-a11ce0000000000000000000000a/logs"),
    Call("GET", "/runs/run-a11ce0000000000000000000000a/metrics"),
    Call("GET", "/v1/datasets/a11ce000-0000-4000-8000-000000000001"),
    Call("PATCH", "/v1/datasets/a11ce000-0000-4000-8000-000000000001", {"name": "mine-now"}),
    Call("DELETE", "/v1/datasets/a11ce000-0000-4000-8000-000000000001"),
    Call("GET", "/v1/train-configs/a11ce000-0000-4000-8000-000000000002"),
    Call("DELETE", "/v1/train-configs/a11ce000-0000-4000-8000-000000000002"),
    Call("GET", "/v1/deid/policies/a11ce000-0000-4000-8000-000000000003"),
    Call(
        "PUT",
        "/v1/deid/policies/a11ce000-0000-4000-8000-000000000003",
        {"name": "mine-now", "entities": {"PHONE": {"operator": "mask"}}},
    ),
    Call("DELETE", "/v1/deid/policies/a11ce000-0000-4000-8000-000000000003"),
    Call("GET", "/v1/deid/jobs/a11ce000-0000-4000-8000-000000000004"),
    Call("GET", "/v1/tunings.get/job-a11ce0000001"),
    Call("POST", "/v1/tunings.cancel/job-a11ce0000001"),
    Call("DELETE", "/v1/tunings.delete/job-a11ce0000001"),
    Call("GET", "/v1/fine_tuning/jobs/job-a11ce0000001"),
    Call("POST", "/v1/fine_tuning/jobs/job-a11ce0000001/cancel"),
    Call("GET", "/deployments/dep-a11ce0000001"),
    Call("GET", "/deployments/dep-a11ce0000001/logs"),
]


@pytest.mark.parametrize("call", ANOTHER_OWNERS_IDS, ids=lambda call: f"{call.method} {call.path}")
def test_another_owners_id_is_404(alices_rows: TestClient, call: Call) -> None:
    response = alices_rows.request(call.method, call.path, json=call.body, headers=BOB)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "call",
    [Call("POST", "/deployments/dep-a11ce0000001/restart"), Call("DELETE", "/deployments/dep-a11ce0000001")],
    ids=lambda call: f"{call.method} {call.path}",
)
def test_another_owners_deployment_cannot_be_restarted_or_removed(deploy_client, call: Call) -> None:
    client = deploy_client()
    _add_alices_rows(client)
    response = client.request(call.method, call.path, headers=BOB)
    assert response.status_code == 404, response.text
    assert client.get("/deployments/dep-a11ce0000001", headers=ALICE).json()["status"] == "stopped"


def test_the_owner_still_reaches_its_rows(alices_rows: TestClient) -> None:
    paths = (
        "/projects/alices",
        "/runs/run-a11ce0000000000000000000000a",
        "/v1/datasets/a11ce000-0000-4000-8000-000000000001",
        "/v1/deid/jobs/a11ce000-0000-4000-8000-000000000004",
    )
    for path in paths:
        assert alices_rows.get(path, headers=ALICE).status_code == 200, path


LISTS = [
    ("/projects", "alices"),
    ("/v1/datasets", "a11ce000-0000-4000-8000-000000000001"),
    ("/v1/train-configs", "a11ce000-0000-4000-8000-000000000002"),
    ("/v1/deid/policies", "a11ce000-0000-4000-8000-000000000003"),
    ("/v1/tunings.list", "job-a11ce0000001"),
    ("/v1/fine_tuning/jobs", "job-a11ce0000001"),
    ("/deployments", "dep-a11ce0000001"),
]


@pytest.mark.parametrize(("path", "alices_id"), LISTS)
def test_lists_never_show_another_owners_rows(alices_rows: TestClient, path: str, alices_id: str) -> None:
    mine = alices_rows.get(path, headers=ALICE)
    theirs = alices_rows.get(path, headers=BOB)
    assert mine.status_code == theirs.status_code == 200, (mine.text, theirs.text)
    assert alices_id in mine.text
    assert alices_id not in theirs.text


def test_a_shared_policy_is_seen_by_everyone_but_an_owned_one_only_by_its_owner(client: TestClient) -> None:
    with client.app.state.store.session_scope() as session:
        session.add(
            tables.DeidPolicy(
                id="5ba2ed00-0000-4000-8000-000000000005", owner=None, name="shared", secret="00"
            )
        )
        session.add(
            tables.DeidPolicy(
                id="a11ce000-0000-4000-8000-000000000003", owner="alice", name="alices", secret="00"
            )
        )
        session.flush()
        bob = _principal("bob")
        stmt = owned(select(tables.DeidPolicy), tables.DeidPolicy, bob, shared_when_null=True)
        seen = {policy.id for policy in session.scalars(stmt)}
        assert (
            "5ba2ed00-0000-4000-8000-000000000005" in seen
            and "a11ce000-0000-4000-8000-000000000003" not in seen
        )
        shared = get_owned(
            session,
            tables.DeidPolicy,
            "5ba2ed00-0000-4000-8000-000000000005",
            bob,
            what="policy",
            param="policy_id",
            shared_when_null=True,
        )
        assert shared.id == "5ba2ed00-0000-4000-8000-000000000005"
        with pytest.raises(NotFound):
            get_owned(
                session,
                tables.DeidPolicy,
                "5ba2ed00-0000-4000-8000-000000000005",
                bob,
                what="policy",
                param="policy_id",
            )


def test_the_helper_scopes_users_and_lets_admins_through() -> None:
    alice, admin = _principal("alice"), _principal("root", admin=True)
    assert may_see(alice, "alice") and not may_see(alice, "bob") and may_see(admin, "bob")
    assert not may_see(alice, None) and may_see(alice, None, shared_when_null=True)
    stmt = select(tables.Project)
    assert owned(stmt, tables.Project, admin) is stmt
    assert "WHERE project.owner" in str(owned(stmt, tables.Project, alice))
    with pytest.raises(NotFound, match="upload 'up-1' not found") as caught:
        ensure_owned(object(), alice, what="upload 'up-1'", param="upload_id", owner_of=lambda _: "bob")
    assert caught.value.param == "upload_id"
    with pytest.raises(NotFound):
        ensure_owned(None, admin, what="thing", param="id")


def test_a_prebuilt_owned_query_sees_what_owned_sees(store) -> None:
    """`OwnedQuery` (a hot read's statement built once) narrows exactly as `owned()` does, per principal."""
    with store.session_scope() as session:
        session.add_all(
            [
                tables.DeidPolicy(
                    id=f"0000000{i}-0000-4000-8000-000000000000", owner=owner, name=name, secret="0"
                )
                for i, (owner, name) in enumerate([(None, "shared"), ("alice", "alices"), ("bob", "bobs")])
            ]
        )
    prebuilt = (
        select(tables.DeidPolicy.name)
        .where(tables.DeidPolicy.name.in_(["shared", "alices", "bobs"]))
        .order_by("name")
    )
    for shared in (False, True):
        query = OwnedQuery(prebuilt, tables.DeidPolicy, shared_when_null=shared)
        for principal in (_principal("alice"), _principal("bob"), _principal("root", admin=True)):
            with store.session_scope(read_only=True) as session:
                seen = session.scalars(owned(prebuilt, tables.DeidPolicy, principal, shared_when_null=shared))
                assert query.execute(session, principal).scalars().all() == list(seen)
    with store.session_scope(read_only=True) as session:
        by_name = prebuilt.where(tables.DeidPolicy.name == bindparam("name"))
        assert (
            OwnedQuery(by_name, tables.DeidPolicy).execute(session, _principal("alice"), name="alices").all()
        )
        assert (
            not OwnedQuery(by_name, tables.DeidPolicy)
            .execute(session, _principal("bob"), name="alices")
            .all()
        )
        shared = OwnedQuery(prebuilt, tables.DeidPolicy, shared_when_null=True)
        assert shared.execute(session, _principal("alice")).scalars().all() == ["alices", "shared"]


def _principal(owner: str, *, admin: bool = False):
    from src.features.auth.service import Principal
    from src.models.auth import Role

    return Principal(owner=owner, role=Role.admin if admin else Role.user)
