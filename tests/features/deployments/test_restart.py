"""Model servers outlive a SIGKILLed service and are re-adopted when it starts again."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.features.deployments.conftest import FAKE_COMMAND, port_range
from tests.support.server import free_port, server_env, start_server, wait_until_healthy

pytestmark = pytest.mark.slow
KEY = "test-admin-key-000"
STARTUP_TIMEOUT = 120.0  # a whole service start (imports, migrations); slow on a loaded host


def wait_status(client: httpx.Client, deployment_id: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/deployments/{deployment_id}").json()
        if info["status"] == status:
            return info
        time.sleep(0.1)
    raise AssertionError(f"{deployment_id} is {info['status']}, not {status}")


def test_live_server_is_re_adopted_and_a_dead_one_stopped(tmp_path: Path, database_url: str) -> None:
    models = tmp_path / "models" / "m"
    models.mkdir(parents=True)
    (models / "config.json").write_text("{}")
    port = free_port()
    env = server_env(
        database_url,
        port,
        TUNING_DATA_DIR=str(tmp_path / "data"),
        TUNING_TRAINING_DIR=str(tmp_path / "training"),
        TUNING_MODEL_ROOTS=json.dumps([str(models.parent)]),
        TUNING_DEPLOY_COMMAND=json.dumps(FAKE_COMMAND),
        TUNING_DEPLOY_PORTS=port_range(),
        TUNING_DEPLOY_HEALTH_INTERVAL="0.2",
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"})
    service = start_server(env, tmp_path)
    try:
        wait_until_healthy(service, port, timeout=STARTUP_TIMEOUT)
        kept = client.post("/deployments", json={"model_path": "m", "gpu_count": 0}).json()
        lost = client.post("/deployments", json={"model_path": "m", "gpu_count": 0}).json()
        kept = wait_status(client, kept["deployment_id"], "running")
        lost = wait_status(client, lost["deployment_id"], "running")
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=10)
        subprocess.run(
            ["kill", "-9", str(lost["pid"])], check=True
        )  # this one dies while the service is down
        assert httpx.get(f"{kept['base_url']}/health").status_code == 200

        service = start_server(env, tmp_path)
        wait_until_healthy(service, port, timeout=STARTUP_TIMEOUT)
        adopted = client.get(f"/deployments/{kept['deployment_id']}").json()
        assert adopted["status"] == "running" and adopted["pid"] == kept["pid"]
        gone = client.get(f"/deployments/{lost['deployment_id']}").json()
        assert gone["status"] == "stopped"
        answer = client.post(
            f"/deployments/{kept['deployment_id']}/v1/completions",
            json={"model": kept["served_model_name"], "prompt": "Hi", "max_tokens": 1},
        )
        assert answer.json()["choices"][0]["text"] == "hello"
        client.delete(f"/deployments/{kept['deployment_id']}?force=true")
        assert client.get(f"/deployments/{kept['deployment_id']}").json()["status"] == "stopped"
    finally:
        client.close()
        service.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.wait(timeout=30)
        from src.storage import Store
        from tests.conftest import clear_tables

        store = Store(database_url, pool_size=1)
        clear_tables(store)
        store.dispose()
