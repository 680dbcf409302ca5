"""The demo base model: built on first start with no configuration and no download, then trainable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.config import ModelSettings, RateLimitSettings, TrainingSettings
from src.features.models import demo
from tests.conftest import ALICE_KEY, bearer
from tests.features.tunings.conftest import chat_jsonl

ALICE = bearer(ALICE_KEY)


@pytest.fixture(autouse=True)
def _trainer_installed() -> None:
    if demo.trainer_packages_missing():
        pytest.skip("the trainer's packages are not installed (requirements-trainer.txt)")


def test_first_start_builds_it_once_and_it_fine_tunes(app_factory, tmp_path: Path) -> None:
    settings = {
        "models": ModelSettings(demo_model=True),
        "training": TrainingSettings(training_dir=tmp_path / "training", monitor_interval=0.2, gpus=[]),
        "rate_limits": RateLimitSettings(rate_limits={"tunings": "1000/minute"}),
    }
    client = app_factory(**settings)
    built = tmp_path / "data" / "models" / "tiny-demo"
    assert (built / "config.json").is_file() and (built / "tokenizer.json").is_file()
    # the unprivileged user that runs training must be able to read every file of it
    assert all(f.stat().st_mode & 0o004 for f in built.iterdir()), oct(
        (built / "model.safetensors").stat().st_mode
    )
    models = {m["id"]: m for m in client.get("/v1/models", headers=ALICE).json()["data"]}
    assert models[demo.DEMO_MODEL_NAME]["kind"] == "base"
    first_build = (built / "model.safetensors").stat().st_mtime_ns

    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=ALICE).json()["id"]
    client.put(f"/v1/datasets/{dataset_id}/files", files={"file": ("c.jsonl", chat_jsonl())}, headers=ALICE)
    job = client.post(
        "/v1/tunings.create",
        json={"model": demo.DEMO_MODEL_NAME, "training_file": dataset_id, "hyperparameters": {"epochs": 1}},
        headers=ALICE,
    ).json()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        current = client.get(f"/v1/tunings.get/{job['id']}", headers=ALICE).json()
        if current["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert current["status"] == "succeeded", current

    again = app_factory(**settings)  # a second start finds it on disk
    assert (built / "model.safetensors").stat().st_mtime_ns == first_build
    assert demo.DEMO_MODEL_NAME in {m["id"] for m in again.get("/v1/models", headers=ALICE).json()["data"]}


def test_it_is_not_listed_when_turned_off(app_factory) -> None:
    client = app_factory(models=ModelSettings(demo_model=False))
    assert demo.DEMO_MODEL_NAME not in {
        m["id"] for m in client.get("/v1/models", headers=ALICE).json()["data"]
    }


def test_the_same_seed_builds_the_same_weights(tmp_path: Path) -> None:
    first = demo.build_tiny_llama(tmp_path / "a")
    second = demo.build_tiny_llama(tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert (first / "tokenizer.json").read_text() == (second / "tokenizer.json").read_text()
