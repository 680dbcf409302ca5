"""A tuning job belongs to its owner by owner, never through a project name another owner can create."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.config import ModelSettings, TrainingSettings
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.features.tunings.conftest import TINY, chat_jsonl

ALICE = bearer(ALICE_KEY)
BOB = bearer(BOB_KEY)
ADMIN = bearer(ADMIN_KEY)


def _client(app_factory, tmp_path: Path, tiny_model: Path) -> TestClient:
    # no scheduler: the jobs stay queued, which is all these tests need
    return app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", scheduler=False, gpus=[]),
        models=ModelSettings(model_catalog={TINY: tiny_model}, model_roots=[tiny_model.parent]),
    )


def _create_job(client: TestClient, headers: dict[str, str]) -> dict:
    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=headers).json()["id"]
    client.put(f"/v1/datasets/{dataset_id}/files", files={"file": ("c.jsonl", chat_jsonl())}, headers=headers)
    created = client.post(
        "/v1/tunings.create", json={"model": TINY, "training_file": dataset_id}, headers=headers
    )
    assert created.status_code == 201, created.text
    return created.json()


def _project_of(client: TestClient, job: dict) -> str:
    return client.get(f"/runs/{job['run_id']}", headers=ADMIN).json()["project"]


def test_a_squatted_project_name_does_not_capture_another_owners_jobs(
    app_factory, tmp_path, tiny_model
) -> None:
    client = _client(app_factory, tmp_path, tiny_model)
    # bob takes every name alice's tuning project has had or could plausibly get
    for name in ("tunings-alice", "tunings-alice-0", "tunings"):
        assert client.post("/projects", json={"name": name}, headers=BOB).status_code == 201
    job = _create_job(client, ALICE)
    project = _project_of(client, job)
    assert project not in {"tunings-alice", "tunings-alice-0", "tunings"}
    assert client.get(f"/projects/{project}", headers=ALICE).json()["owner"] == "alice"
    assert client.get(f"/v1/tunings.get/{job['id']}", headers=ALICE).status_code == 200
    assert client.get(f"/v1/tunings.get/{job['id']}", headers=BOB).status_code == 404
    assert client.get(f"/runs/{job['run_id']}/logs", headers=BOB).status_code == 404
    for name in ("tunings-alice", "tunings-alice-0", "tunings"):
        assert client.get(f"/projects/{name}/runs", headers=BOB).json()["data"] == []
        # bob deleting his projects touches nothing of alice's
        assert client.delete(f"/projects/{name}", headers=BOB).status_code in (200, 204)
    assert client.get(f"/v1/tunings.get/{job['id']}", headers=ALICE).json()["status"] == "pending"

    # the same project is found again by owner, even when bob squats its exact name afterwards
    second = _create_job(client, ALICE)
    assert _project_of(client, second) == project


def test_owners_whose_names_slug_alike_get_separate_projects(app_factory, tmp_path, tiny_model) -> None:
    client = _client(app_factory, tmp_path, tiny_model)
    keys = {}
    for owner in ("dave.x", "Dave-X"):
        created = client.post("/v1/keys", json={"owner": owner, "role": "user", "name": owner}, headers=ADMIN)
        assert created.status_code == 201, created.text
        keys[owner] = bearer(created.json()["key"])
    jobs = {owner: _create_job(client, headers) for owner, headers in keys.items()}
    projects = {owner: _project_of(client, job) for owner, job in jobs.items()}
    assert projects["dave.x"] != projects["Dave-X"]
    assert client.get(f"/v1/tunings.get/{jobs['dave.x']['id']}", headers=keys["Dave-X"]).status_code == 404
    listed = client.get("/v1/tunings.list", headers=keys["Dave-X"]).json()["data"]
    assert [job["id"] for job in listed] == [jobs["Dave-X"]["id"]]


def test_a_training_file_path_into_another_run_is_refused(app_factory, tmp_path, tiny_model) -> None:
    client = _client(app_factory, tmp_path, tiny_model)
    job = _create_job(client, ALICE)
    for training_file in (f"runs/{job['run_id']}/data", "runs", "."):
        created = client.post(
            "/v1/tunings.create", json={"model": TINY, "training_file": training_file}, headers=BOB
        )
        assert created.status_code == 400, (training_file, created.text)
    assert client.get("/v1/tunings.list", headers=BOB).json()["data"] == []
