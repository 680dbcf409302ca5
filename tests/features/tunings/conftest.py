"""Tuning tests train a tiny Llama built at test time (packages from requirements-trainer.txt)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import DeploymentSettings, ModelSettings, RateLimitSettings, TrainingSettings
from tests.conftest import ALICE_KEY, bearer
from tests.features.deployments.conftest import FAKE_COMMAND, port_range

ALICE = bearer(ALICE_KEY)
TINY = "tiny/llama-2layer"
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def tuning_client(app_factory, tmp_path: Path, tiny_model: Path) -> Callable[..., TestClient]:
    def build(**rate_limits: str) -> TestClient:
        return app_factory(
            training=TrainingSettings(training_dir=tmp_path / "training", monitor_interval=0.2, gpus=[]),
            models=ModelSettings(model_catalog={TINY: tiny_model}, model_roots=[tiny_model.parent]),
            rate_limits=RateLimitSettings(rate_limits=rate_limits or {"tunings": "1000/minute"}),
            deployments=DeploymentSettings(
                deploy_command=FAKE_COMMAND, deploy_ports=port_range(), deploy_health_interval=0.2
            ),
        )

    return build


def chat_jsonl(count: int = 16) -> bytes:
    record = {
        "messages": [
            {"role": "user", "content": "what is the capital of france?"},
            {"role": "assistant", "content": "paris"},
        ]
    }
    return ("\n".join(json.dumps(record) for _ in range(count)) + "\n").encode()


def wait_for_job(client: TestClient, job_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/tunings.get/{job_id}", headers=ALICE).json()
        if job["status"] in TERMINAL:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")
