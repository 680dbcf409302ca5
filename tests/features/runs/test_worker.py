"""The standalone worker runs queued runs while the API service has its scheduler off."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.features.runs.conftest import ALICE, start_run, wait_for_status
from tests.support.server import PROJECT_ROOT
from tests.support.training import COMMAND

pytestmark = pytest.mark.slow


def test_worker_process_runs_the_queue(runs_client, training_dir: Path, database_url: str) -> None:
    client = runs_client(scheduler=False)
    run = start_run(client, {"env": {"FAKE_STEPS": "2"}})
    time.sleep(0.3)
    assert client.get(f"/runs/{run['id']}", headers=ALICE).json()["status"] == "pending"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TUNING_DATABASE_URL": database_url,
        "TUNING_TRAINING_DIR": str(training_dir),
        "TUNING_TRAINING_WORKDIR": ".",
        "TUNING_TRAINING_COMMAND": json.dumps(COMMAND),
        "TUNING_MONITOR_INTERVAL": "0.1",
        "TUNING_RUN_AS_USER": "",  # see tests/conftest.py
    }
    worker = subprocess.Popen([sys.executable, "-m", "app.worker"], env=env, cwd=training_dir)
    try:
        assert wait_for_status(client, run["id"])["status"] == "succeeded"
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
