"""A live server (uvicorn in a subprocess) for the SDK, CLI and example tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.features.deployments.conftest import FAKE_COMMAND, port_range
from tests.features.tunings.conftest import TINY, chat_jsonl
from tests.support.server import free_port, server_env, start_server, wait_until_healthy

KEY = "test-admin-key-000"
DEPLOYABLE = "demo-llm"
# a loaded machine, or a server building the demo model first, can take a while to answer
STARTUP_TIMEOUT = 120.0


@pytest.fixture
def start_live_server(tmp_path: Path, database_url: str, tiny_model: Path) -> Iterator[Callable[..., str]]:
    """Start servers with extra settings; all stop (and the tables are emptied) after the test."""
    processes: list[subprocess.Popen[str]] = []

    def start(**extra: str) -> str:
        port = free_port()
        settings = {
            "TUNING_DATA_DIR": str(tmp_path / "data"),
            "TUNING_TRAINING_DIR": str(tmp_path / "training"),
            "TUNING_MODEL_CATALOG": json.dumps({TINY: str(tiny_model)}),
            "TUNING_MONITOR_INTERVAL": "0.2",
            "TUNING_RATE_LIMITS": json.dumps({"tunings": "100000/minute", "files": "100000/minute"}),
        }
        env = server_env(database_url, port, **{**settings, **extra})
        process = start_server(env, tmp_path)
        processes.append(process)
        wait_until_healthy(process, port, timeout=STARTUP_TIMEOUT)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    from src.storage import Store
    from tests.conftest import clear_tables

    store = Store(database_url, pool_size=1)
    clear_tables(store)
    store.dispose()


@pytest.fixture
def training_file(tmp_path: Path) -> Path:
    path = tmp_path / "chat.jsonl"
    path.write_bytes(chat_jsonl())
    return path


@pytest.fixture
def deploy_settings(tmp_path: Path) -> dict[str, str]:
    """Server settings for deployments: GPUs "0" and "1" from the settings (no NVML here), the
    stand-in vLLM of tests/support/fake_vllm.py, and a model directory named DEPLOYABLE."""
    root = tmp_path / "models"
    (root / DEPLOYABLE).mkdir(parents=True)
    (root / DEPLOYABLE / "config.json").write_text("{}")
    return {
        "TUNING_GPUS": "0,1",
        "TUNING_MODEL_ROOTS": json.dumps([str(root)]),
        "TUNING_DEPLOY_COMMAND": json.dumps(FAKE_COMMAND),
        "TUNING_DEPLOY_PORTS": port_range(),
        "TUNING_DEPLOY_HEALTH_INTERVAL": "0.2",
        "TUNING_DEPLOY_STOP_GRACE": "2",
    }
