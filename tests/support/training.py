"""A training directory for run tests: the scripted trainer, a dataset file and a YAML config."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.config import TrainingSettings
from src.utils.child_env import DEFAULT_ENV_ALLOWLIST
from tests.support.data import OPENAI, jsonl

FAKE_TRAIN = Path(__file__).with_name("fake_train.sh")
COMMAND = ["sh", "fake_train.sh", "{training_yaml}"]
# the scripted trainer's knobs, allowed on top of the service's default allow-list
FAKE_ENV = [
    "FAKE_STEPS",
    "FAKE_SLEEP",
    "FAKE_EXIT",
    "FAKE_HANG",
    "FAKE_IGNORE_TERM",
    "FAKE_LINES",
    "FAKE_MARK",
    "FAKE_OOM",
    "FAKE_REAL",
    "FAKE_NO_TRAINER_LOG",
]


def make_training_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FAKE_TRAIN, root / "fake_train.sh")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.jsonl").write_bytes(jsonl(OPENAI, OPENAI))
    (root / "configs").mkdir(exist_ok=True)
    (root / "configs" / "sft.yaml").write_text(
        "model_name_or_path: tiny\nstage: sft\nfinetuning_type: lora\n"
    )
    return root


def training_settings(root: Path, **overrides: object) -> TrainingSettings:
    values: dict[str, object] = {
        "training_dir": root,
        "training_workdir": ".",
        "training_command": COMMAND,
        "executor": "local",
        "scheduler": True,
        "monitor_interval": 0.1,
        "cancel_grace": 2.0,
        "gpus": [],
        "env_allowlist": [*DEFAULT_ENV_ALLOWLIST, *FAKE_ENV],
    }
    values.update(overrides)
    return TrainingSettings(**values)  # type: ignore[arg-type]
