"""With no training command configured, a local run trains with the bundled trainer (README walkthrough)."""

from __future__ import annotations

from pathlib import Path

from app.config import ModelSettings, TrainingSettings
from tests.features.runs.conftest import ALICE, wait_for_status

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "data"


def test_the_sample_data_trains_the_demo_model_with_the_default_command(
    app_factory, tmp_path: Path, tiny_model: Path
) -> None:
    client = app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", monitor_interval=0.2, gpus=[]),
        models=ModelSettings(model_catalog={"tuning/tiny-demo": tiny_model}),
    )
    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=ALICE).json()["id"]
    uploaded = client.put(
        f"/v1/datasets/{dataset_id}/files",
        files={"file": ("chat.jsonl", (EXAMPLES / "chat.jsonl").read_bytes())},
        headers=ALICE,
    )
    assert uploaded.json()["status"] == "valid", uploaded.text
    config = client.post(
        "/v1/train-configs",
        json={"name": "sft_lora.yaml", "content": (EXAMPLES / "sft_lora.yaml").read_text()},
        headers=ALICE,
    )
    assert config.status_code == 201, config.text
    project = client.post(
        "/projects",
        json={"name": "walkthrough", "dataset_name": dataset_id, "training_yaml_name": config.json()["id"]},
        headers=ALICE,
    )
    assert project.status_code == 201, project.text

    run = client.post("/projects/walkthrough/runs", json={"gpus": 0}, headers=ALICE)
    assert run.status_code == 201, run.text
    assert run.json()["command"][1].endswith("recipes/sft_lora.py")
    done = wait_for_status(client, run.json()["id"], timeout=240)
    assert done["status"] == "succeeded", done
    assert done["total_steps"] == 8 and done["progress"] == 1.0
    paths = {a["path"] for a in client.get(f"/runs/{done['id']}/artifacts", headers=ALICE).json()["data"]}
    assert {"adapter_model.safetensors", "adapter_config.json", "trainer_log.jsonl"} <= paths
