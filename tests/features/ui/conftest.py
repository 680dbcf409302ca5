"""Fixtures for the dashboard's pages: a TestClient logged in through the login form."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.training import make_training_dir, training_settings

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def log_in(client: TestClient, key: str) -> str:
    """Log the client in with `key` (the cookie stays on the client); returns the CSRF token."""
    response = client.post("/ui/login", data={"key": key, "next": "/ui/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/ui/")
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, "the page carries its CSRF token"
    return match.group(1)


@pytest.fixture
def ui_training_dir(tmp_path: Path) -> Path:
    return make_training_dir(tmp_path / "training")


@pytest.fixture
def ui_runs_client(app_factory, ui_training_dir: Path) -> Callable[..., TestClient]:
    """A client whose engine runs the scripted trainer, with a project `demo` of alice's."""

    def build(**overrides: object) -> TestClient:
        from tests.conftest import ALICE_KEY, bearer

        client = app_factory(training=training_settings(ui_training_dir, **overrides))
        response = client.post(
            "/projects",
            json={
                "name": "demo",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
            },
            headers=bearer(ALICE_KEY),
        )
        assert response.status_code == 201, response.text
        return client

    return build
