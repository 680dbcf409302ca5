"""Deployments with the OpenAI-compatible stand-in server (tests/support/fake_vllm.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import DeploymentSettings, ModelSettings, TrainingSettings
from tests.conftest import ALICE_KEY, bearer
from tests.support.server import free_port

ALICE = bearer(ALICE_KEY)
FAKE_VLLM = Path(__file__).resolve().parents[2] / "support" / "fake_vllm.py"
FAKE_COMMAND = [
    sys.executable,
    str(FAKE_VLLM),
    "--model",
    "{model}",
    "--host",
    "{host}",
    "--port",
    "{port}",
    "--served-model-name",
    "{served_model_name}",
]


def port_range(size: int = 40) -> str:
    start = free_port()
    start = min(start, 65535 - size)
    return f"{start}-{start + size - 1}"


@pytest.fixture
def model_roots(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for name in ("qwen2.5", "tiny"):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
    return root


@pytest.fixture
def deploy_client(app_factory, tmp_path: Path, model_roots: Path) -> Callable[..., TestClient]:
    def build(**overrides: object) -> TestClient:
        deployments = {
            "deploy_command": FAKE_COMMAND,
            "deploy_ports": port_range(),
            "deploy_health_interval": 0.2,
            "deploy_stop_grace": 2.0,
            "deploy_unhealthy_after": 2,
        }
        deployments.update(overrides)
        return app_factory(
            training=TrainingSettings(
                training_dir=tmp_path / "training", gpus=["0", "1"], monitor_interval=0.2
            ),
            models=ModelSettings(model_roots=[model_roots]),
            deployments=DeploymentSettings(**deployments),
        )

    return build


def wait_for(client: TestClient, deployment_id: str, statuses: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/deployments/{deployment_id}", headers=ALICE).json()
        if info["status"] in statuses:
            return info
        time.sleep(0.1)
    raise AssertionError(f"{deployment_id} stayed {info['status']}: {info}")
