"""A trainer without its packages fails at once as `launch_error`, naming the install command."""

from __future__ import annotations

import sys
from pathlib import Path

from app.config import ModelSettings, TrainingSettings, TuningSettings
from tests.features.tunings.conftest import ALICE, TINY, chat_jsonl, wait_for_job

# the interpreter this virtual environment was made from: the same Python, without torch
BARE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def test_missing_trainer_packages_are_a_launch_error(app_factory, tmp_path: Path, tiny_model: Path) -> None:
    client = app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", monitor_interval=0.2, gpus=[]),
        models=ModelSettings(model_catalog={TINY: tiny_model}),
        tuning=TuningSettings(
            tuning_command=[BARE_PYTHON, "{recipes}/sft_lora.py", "{training_yaml}", "--dataset", "{dataset}"]
        ),
    )
    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=ALICE).json()["id"]
    client.put(f"/v1/datasets/{dataset_id}/files", files={"file": ("c.jsonl", chat_jsonl())}, headers=ALICE)
    job = client.post("/v1/tunings.create", json={"model": TINY, "training_file": dataset_id}, headers=ALICE)
    assert job.status_code == 201, job.text
    done = wait_for_job(client, job.json()["id"], timeout=60)
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "launch_error", done["error"]
    assert "pip install -r requirements-trainer.txt" in done["error"]["message"]
