"""tinker-cookbook 0.5.8, unmodified, trains on this service: its supervised and RL loops complete.

Opt-in: TUNING_TEST_COOKBOOK_PYTHON names the Python of the cookbook's own virtual
environment (`scripts/cookbook-venv.sh` prints it; the cookbook's transformers pin
clashes with the trainer's). Without it the tests skip, and fail under CI.

Each loop runs as a child process of that Python (`cookbook_driver.py`) against a
live server, with the `role_colon` renderer and the tiny random Llama, offline. The
cookbook loads its tokenizer itself from the model name (`AutoTokenizer.from_pretrained`),
not from `get_info`, so the catalog names the tiny model by its directory. With
random weights the loops are checked for completing and for what the server saw,
not for learning.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import live_server

COOKBOOK_PYTHON = os.environ.get("TUNING_TEST_COOKBOOK_PYTHON")
DRIVER = Path(__file__).with_name("cookbook_driver.py")
KEY = "tml-alice-0123456789abcdef"
CONVERSATIONS = [
    ("What is 2 + 3?", "5"),
    ("Name a colour.", "Blue."),
    ("Say hello.", "Hello there."),
    ("What is the capital of France?", "Paris."),
    ("Count to three.", "One, two, three."),
    ("Is ice cold?", "Yes, ice is cold."),
]  # the driver holds 2 out for its evaluator and trains on batches of 2: two steps


@pytest.fixture
def cookbook_python() -> str:
    if not COOKBOOK_PYTHON:
        if os.environ.get("CI"):
            pytest.fail("TUNING_TEST_COOKBOOK_PYTHON is not set: bash scripts/cookbook-venv.sh prints it")
        pytest.skip("set TUNING_TEST_COOKBOOK_PYTHON to the Python of scripts/cookbook-venv.sh")
    return COOKBOOK_PYTHON


@pytest.fixture
def server(
    cookbook_python: str, tmp_path: Path, database_url: str, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    keys = json.dumps([{"key": KEY, "owner": "alice", "role": "user"}])
    catalog = json.dumps({str(tiny_model): str(tiny_model)})
    with live_server(database_url, tmp_path, TUNING_API_KEYS=keys, TUNING_MODEL_CATALOG=catalog) as url:
        yield url


def run_cookbook(python: str, loop: str, *args: str, base_url: str, model: Path, log_dir: Path) -> str:
    """One loop of the cookbook in its own Python, offline; its output, after asserting it exited 0."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TUNING_", "TRAINING_", "TINKER_", "PYTHON"))
    }
    env.update(
        TINKER_API_KEY=KEY,
        TINKER_TELEMETRY="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(log_dir.parent / "hf-home"),
        WANDB_MODE="disabled",
    )
    command = [python, str(DRIVER), loop, "--base-url", base_url, "--model", str(model)]
    done = subprocess.run(
        [*command, "--log-dir", str(log_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def training_runs(base_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base_url}/api/v1/training_runs", headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    return answer.json()["training_runs"]


def server_checkpoint_paths(base_url: str, model_id: str) -> set[str]:
    answer = httpx.get(f"{base_url}/api/v1/training_runs/{model_id}/checkpoints", headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    return {checkpoint["tinker_path"] for checkpoint in answer.json()["checkpoints"]}


def assert_checkpoints_on_server(base_url: str, log_dir: Path, model: Path) -> dict[str, Any]:
    """The cookbook's checkpoints.jsonl ends with `final`, and the server holds every path it names."""
    records = read_jsonl(log_dir / "checkpoints.jsonl")
    assert records[-1]["name"] == "final", records
    (run,) = training_runs(base_url)
    assert run["base_model"] == str(model) and run["lora_rank"] == 4
    assert run["last_checkpoint"]["tinker_path"] == records[-1]["state_path"]
    assert run["last_sampler_checkpoint"]["tinker_path"] == records[-1]["sampler_path"]
    recorded = {record[key] for record in records for key in ("state_path", "sampler_path")}
    assert recorded <= server_checkpoint_paths(base_url, run["training_run_id"])
    return run


def test_supervised_loop_on_a_conversations_file(
    server: str, cookbook_python: str, tiny_model: Path, tmp_path: Path
) -> None:
    data = tmp_path / "conversations.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
            + "\n"
            for q, a in CONVERSATIONS
        )
    )
    log_dir = tmp_path / "sl"
    output = run_cookbook(
        cookbook_python, "supervised", "--data", str(data), base_url=server, model=tiny_model, log_dir=log_dir
    )
    assert "Training completed successfully" in output

    steps = read_jsonl(log_dir / "metrics.jsonl")
    assert [row["step"] for row in steps] == [0, 1]
    for row in steps:
        assert row["num_sequences"] == 2 and row["num_loss_tokens"] > 0
        # forward_backward's logprobs, and the held-out NLL through a sampler's compute_logprobs
        assert math.isfinite(row["train_mean_nll"]) and row["train_mean_nll"] > 0
        assert math.isfinite(row["test/nll"]) and row["test/nll"] > 0
    assert_checkpoints_on_server(server, log_dir, tiny_model)


def test_rl_loop_on_the_arithmetic_environment(
    server: str, cookbook_python: str, tiny_model: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "rl"
    output = run_cookbook(cookbook_python, "rl", base_url=server, model=tiny_model, log_dir=log_dir)
    assert "Training completed successfully" in output

    steps = read_jsonl(log_dir / "metrics.jsonl")
    assert [row["progress/batch"] for row in steps] == [0, 1]
    for row in steps:
        assert row["env/all/total_episodes"] == 4  # 2 groups of 2, sampled with "\n\nUser:" as a stop
        assert 1 <= row["env/all/ac_tokens_per_turn"] <= 8
        # the sampler's logprobs are the trainer's: the sample-vs-train KL the cookbook measures is ~0
        assert abs(row["optim/kl_sample_train_v1"]) < 1e-2, row
        assert math.isfinite(row["optim/entropy"])
    run = assert_checkpoints_on_server(server, log_dir, tiny_model)
    assert run["user_metadata"] == {"renderer_name": "role_colon"}

    # run again in the same log directory: the cookbook resumes from its last checkpoint (with
    # the optimizer, via load_weights), checks the renderer recorded there, and has nothing left to do
    again = run_cookbook(cookbook_python, "rl", base_url=server, model=tiny_model, log_dir=log_dir)
    assert "Renderer metadata matches" in again and "Training was already complete" in again
    assert len(training_runs(server)) == 2
