"""Kill the service with SIGKILL while two runs are running; on restart both end right, every line once."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port, server_env, start_server, wait_until_healthy
from tests.support.training import COMMAND, FAKE_ENV, make_training_dir

pytestmark = pytest.mark.slow
KEY = "test-admin-key-000"


def expected_lines(run_id: str, steps: int, yaml: str) -> list[str]:
    lines = [f"run {run_id} config {yaml} gpus []"]
    for i in range(1, steps + 1):
        lines += [
            f"{i}/{steps} [00:0{i}<00:10, 1.00it/s]",
            f"{{'loss': 1.{10 - i}, 'grad_norm': 0.5, 'learning_rate': 2e-05, 'epoch': {i}.0}}",
        ]
    return [*lines, "finished"]


def test_service_killed_mid_run_recovers_both_runs(tmp_path: Path, database_url: str) -> None:
    training = make_training_dir(tmp_path / "training")
    port = free_port()
    env = server_env(
        database_url,
        port,
        TUNING_DATA_DIR=str(tmp_path / "data"),
        TUNING_TRAINING_DIR=str(training),
        TUNING_TRAINING_WORKDIR=".",
        TUNING_TRAINING_COMMAND=json.dumps(COMMAND),
        TUNING_MONITOR_INTERVAL="0.2",
        TUNING_ENV_ALLOWLIST=json.dumps(FAKE_ENV),
    )
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    server = start_server(env, tmp_path)
    try:
        wait_until_healthy(server, port)
        client.post(
            "/projects",
            json={
                "name": "restart",
                "dataset_name": "data/train.jsonl",
                "training_yaml_name": "configs/sft.yaml",
            },
        ).raise_for_status()
        short = client.post(
            "/projects/restart/runs", json={"env": {"FAKE_STEPS": "3", "FAKE_SLEEP": "0.4"}}
        ).json()
        long = client.post(
            "/projects/restart/runs", json={"env": {"FAKE_STEPS": "9", "FAKE_SLEEP": "0.5"}}
        ).json()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            logs = client.get(f"/runs/{long['id']}/logs").json()["data"]
            if len(logs) >= 3:
                break
            time.sleep(0.1)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

        short_exit = Path(short["workspace"]) / "exit_code"
        deadline = time.monotonic() + 20
        while not short_exit.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert short_exit.exists(), "the short run should finish while the service is down"
        assert not (Path(long["workspace"]) / "exit_code").exists(), "the long run should outlive the outage"

        server = start_server(env, tmp_path)
        wait_until_healthy(server, port)
        results = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(results) < 2:
            for run in (short, long):
                current = client.get(f"/runs/{run['id']}").json()
                if current["status"] in ("succeeded", "failed", "cancelled"):
                    results[run["id"]] = current
            time.sleep(0.2)
        assert {r["status"] for r in results.values()} == {"succeeded"}, results
        for run, steps in ((short, 3), (long, 9)):
            yaml = str(training.resolve() / "runs" / run["id"] / "train.yaml")  # the run's staged copy
            lines = client.get(f"/runs/{run['id']}/logs?limit=1000").json()["data"]
            assert [line["line"] for line in lines] == expected_lines(run["id"], steps, yaml)
            assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    finally:
        client.close()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        from src.storage import Store
        from tests.conftest import clear_tables

        store = Store(database_url, pool_size=1)
        clear_tables(store)
        store.dispose()
