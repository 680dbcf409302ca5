"""Projects through the HTTP app: create, read, list with cursors, update, delete."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from src.storage.tables import Run
from tests.conftest import ADMIN_KEY, ALICE_KEY, bearer
from tests.support.rows import add_run

ALICE = bearer(ALICE_KEY)


def create(client: TestClient, name: str, **fields) -> dict:
    response = client.post("/projects", json={"name": name, **fields}, headers=ALICE)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_detail(client: TestClient) -> None:
    body = create(
        client,
        "support-bot",
        description="d",
        tags=["qwen", "support", "qwen"],
        dataset_name="data/support.jsonl",
        training_yaml_name="configs/sft.yaml",
    )
    assert body["name"] == "support-bot"
    assert body["owner"] == "alice"
    assert body["status"] == "active"
    assert body["tags"] == ["qwen", "support"]
    assert body["dataset_name"] == "data/support.jsonl"
    assert body["run_counts"]["total"] == 0
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    assert client.get("/projects/support-bot", headers=ALICE).json() == body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Has Spaces"),
        ("name", "../etc"),
        ("name", "-leading-dash"),
        ("name", "x" * 64),
        ("dataset_name", "../outside.jsonl"),
        ("dataset_name", "/etc/passwd"),
        ("training_yaml_name", "configs/../../x.yaml"),
        ("dataset_name", "a\x00b"),
        ("tags", ["ok", "has space"]),
        ("owner", "bad owner;rm -rf /"),
    ],
)
def test_create_rejects_unsafe_values(client: TestClient, field: str, value: object) -> None:
    body = {"name": "valid-name", field: value}
    response = client.post("/projects", json=body, headers=bearer(ADMIN_KEY))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"].startswith(field)
    assert client.get("/projects", headers=bearer(ADMIN_KEY)).json()["data"] == []


def test_get_missing_is_404(client: TestClient) -> None:
    response = client.get("/projects/nothing-here", headers=ALICE)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "type": "not_found_error",
        "message": "project 'nothing-here' not found",
        "code": "not_found",
        "param": "name",
    }


def test_update_changes_only_sent_fields(client: TestClient) -> None:
    created = create(client, "p", description="keep", tags=["a"], dataset_name="d.jsonl")
    response = client.patch("/projects/p", json={"tags": ["b", "c"], "status": "archived"}, headers=ALICE)
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["b", "c"]
    assert body["status"] == "archived"
    assert body["description"] == "keep"
    assert body["dataset_name"] == "d.jsonl"
    assert body["updated_at"] >= created["updated_at"]
    cleared = client.patch("/projects/p", json={"description": None, "tags": None}, headers=ALICE).json()
    assert cleared["description"] is None and cleared["tags"] == []


def test_update_rejects_unknown_status_and_fields(client: TestClient) -> None:
    create(client, "p")
    assert client.patch("/projects/p", json={"status": "deleted"}, headers=ALICE).status_code == 422
    response = client.patch("/projects/p", json={"name": "renamed"}, headers=ALICE)
    assert response.status_code == 422 and response.json()["error"]["param"] == "name"


def test_delete_refused_while_runs_unfinished(client: TestClient, store) -> None:
    create(client, "busy")
    add_run(store, project="busy", status="succeeded")
    add_run(store, project="busy", status="running")
    add_run(store, project="busy", status="pending")
    detail = client.get("/projects/busy", headers=ALICE).json()
    assert detail["run_counts"] == {
        "pending": 1,
        "running": 1,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 3,
    }
    response = client.delete("/projects/busy", headers=ALICE)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "project_has_active_runs"
    assert "2 unfinished" in response.json()["error"]["message"]
    assert client.get("/projects/busy", headers=ALICE).status_code == 200


def test_delete_with_only_finished_runs(client: TestClient, store) -> None:
    create(client, "done")
    run_id = add_run(store, project="done", status="failed")
    workspace = client.app.state.training_layout.host_workspace(run_id)
    (workspace / "output").mkdir(parents=True)
    with store.session_scope() as session:
        session.get(Run, run_id).workspace = str(workspace)
    response = client.delete("/projects/done", headers=ALICE)
    assert response.status_code == 200 and response.json() == {"detail": "project 'done' deleted"}
    assert not workspace.exists(), "a deleted project's runs leave no workspace behind"
    assert client.get("/projects/done", headers=ALICE).status_code == 404
    assert client.get("/health").json()["total_jobs"] == 0


def test_list_empty(client: TestClient) -> None:
    assert client.get("/projects", headers=ALICE).json() == {"object": "list", "data": [], "has_more": False}


def test_list_one(client: TestClient) -> None:
    create(client, "only")
    page = client.get("/projects?limit=1", headers=ALICE).json()
    assert [p["name"] for p in page["data"]] == ["only"]
    assert page["has_more"] is False


def test_list_pages_with_after_across_many(client: TestClient) -> None:
    names = [f"p{i:02d}" for i in range(23)]
    for name in names:
        create(client, name)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"limit": 5} | ({"after": after} if after else {})
        page = client.get("/projects", params=params, headers=ALICE).json()
        pages += 1
        seen += [p["name"] for p in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["name"]
    assert pages == 5
    assert seen == list(reversed(names))  # newest first, nothing skipped or repeated


def test_list_filters(client: TestClient) -> None:
    create(client, "a1", tags=["red"])
    create(client, "a2", tags=["blue", "red"])
    create(client, "a3", tags=["blue"])
    client.patch("/projects/a3", json={"status": "archived"}, headers=ALICE)
    client.post("/projects", json={"name": "z1", "owner": "zed", "tags": ["red"]}, headers=bearer(ADMIN_KEY))

    def names(query: str, key: dict = ALICE) -> list[str]:
        return [p["name"] for p in client.get(f"/projects?{query}", headers=key).json()["data"]]

    assert names("tag=red") == ["a2", "a1"]
    assert names("tag=blue&status=archived") == ["a3"]
    assert names("status=active") == ["a2", "a1"]
    assert names("tag=red", bearer(ADMIN_KEY)) == ["z1", "a2", "a1"]
    assert names("owner=zed", bearer(ADMIN_KEY)) == ["z1"]
    assert names("tag=red&limit=1&after=a2") == ["a1"]


def test_list_rejects_bad_limit(client: TestClient) -> None:
    for limit in (0, 101, "x"):
        response = client.get(f"/projects?limit={limit}", headers=ALICE)
        assert response.status_code == 422 and response.json()["error"]["param"] == "limit"


def test_list_after_unknown_project_is_404(client: TestClient) -> None:
    response = client.get("/projects?after=ghost", headers=ALICE)
    assert response.status_code == 404 and response.json()["error"]["param"] == "after"
