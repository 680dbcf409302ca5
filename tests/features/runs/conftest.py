"""Fixtures for run tests: an app whose engine runs the scripted trainer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, bearer
from tests.support.training import make_training_dir, training_settings

ALICE = bearer(ALICE_KEY)
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def training_dir(tmp_path: Path) -> Path:
    return make_training_dir(tmp_path / "training")


@pytest.fixture
def runs_client(app_factory, training_dir: Path) -> Callable[..., TestClient]:
    """Build a client whose engine runs the scripted trainer; pass training overrides as keywords."""

    def build(**overrides: object) -> TestClient:
        client = app_factory(training=training_settings(training_dir, **overrides))
        response = client.post(
            "/projects",
            json={
                "name": "demo",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
            },
            headers=ALICE,
        )
        assert response.status_code == 201, response.text
        return client

    return build


def host_path(client: TestClient, shown: str) -> Path:
    """A path a run shows to a user key (relative to the training directory) on this host."""
    return client.app.state.training_layout.training_dir.resolve() / shown


def start_run(client: TestClient, body: dict | None = None, project: str = "demo") -> dict:
    response = client.post(f"/projects/{project}/runs", json=body or {}, headers=ALICE)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_status(
    client: TestClient, run_id: str, statuses: set[str] = TERMINAL, timeout: float = 30
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/runs/{run_id}", headers=ALICE).json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} stayed {run['status']}")
