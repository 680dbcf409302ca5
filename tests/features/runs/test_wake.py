"""A created run starts at once, not at the engine's next pass: in process, and from another process.

Every engine here has a 60 s interval: a run that starts within a few seconds was started by a
wake, since without one it would wait out the interval.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import DeploymentSettings, ModelSettings
from app.factory import create_app
from src.features.runs import wakeup
from src.storage import Store
from tests.conftest import clear_tables, make_settings
from tests.features.deployments.conftest import FAKE_COMMAND, port_range
from tests.features.runs.conftest import ALICE, TERMINAL, host_path, start_run, wait_for_status
from tests.support.server import PROJECT_ROOT
from tests.support.training import COMMAND, training_settings

LONG_INTERVAL = 60.0
# Far below the interval, and generous: a run once stayed pending past 5 s while four test
# suites with training processes shared the two cores (the wake itself takes milliseconds).
PROMPTLY = 10.0


def test_a_created_run_starts_before_the_engine_interval(runs_client) -> None:
    client = runs_client(monitor_interval=LONG_INTERVAL)
    time.sleep(0.3)  # the engine's first pass is over: it now sleeps for the interval
    run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    started = wait_for_status(client, run["id"], {"running", *TERMINAL}, timeout=PROMPTLY)
    assert started["status"] == "running"


def test_a_cancel_reaches_a_running_run_before_the_engine_interval(runs_client) -> None:
    client = runs_client(monitor_interval=LONG_INTERVAL)
    run = start_run(client, {"env": {"FAKE_HANG": "60"}})
    running = wait_for_status(client, run["id"], {"running", *TERMINAL}, timeout=PROMPTLY)
    assert running["status"] == "running"
    pid_file = host_path(client, running["workspace"]) / "pid"
    deadline = time.monotonic() + PROMPTLY
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.post(f"/runs/{run['id']}/cancel", headers=ALICE).status_code == 200
    # the wrapper writes exit_code once TERM ended the command: the monitor sent it at once
    exit_code = host_path(client, running["workspace"]) / "exit_code"
    deadline = time.monotonic() + PROMPTLY
    while not exit_code.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exit_code.exists()


def test_a_run_waiting_for_a_gpu_starts_when_a_deployment_frees_it(
    app_factory, training_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "config.json").write_text("{}")
    client = app_factory(
        training=training_settings(training_dir, gpus=["0"], monitor_interval=LONG_INTERVAL),
        models=ModelSettings(model_roots=[models]),
        deployments=DeploymentSettings(
            deploy_command=FAKE_COMMAND, deploy_ports=port_range(), deploy_health_interval=0.2
        ),
    )
    project = {"name": "demo", "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"}
    assert client.post("/projects", json=project, headers=ALICE).status_code == 201
    deployment = client.post("/deployments", json={"model_path": "tiny", "gpu_count": 1}, headers=ALICE)
    assert deployment.status_code == 201, deployment.text
    run = start_run(client, {"gpus": 1, "env": {"FAKE_STEPS": "1"}})
    time.sleep(0.5)
    assert client.get(f"/runs/{run['id']}", headers=ALICE).json()["status"] == "pending"
    stopped = client.delete(f"/deployments/{deployment.json()['id']}?force=true", headers=ALICE)
    assert stopped.status_code == 200, stopped.text
    started = wait_for_status(client, run["id"], {"running", *TERMINAL}, timeout=PROMPTLY)
    assert started["status"] == "running" and started["gpu_ids"] == ["0"]


def test_subscribers_wake_on_commit_and_not_on_rollback(store: Store) -> None:
    woken: list[str] = []
    wake = lambda: woken.append("woken")  # noqa: E731
    wakeup.subscribe(store, wake)
    try:
        with pytest.raises(RuntimeError), store.session_scope() as session:
            wakeup.queue_changed(session)
            raise RuntimeError("rolled back")
        assert woken == []
        with store.session_scope() as session:
            wakeup.queue_changed(session)
            wakeup.queue_changed(session)
            assert woken == []  # not before the commit
        assert woken == ["woken"]
    finally:
        wakeup.unsubscribe(store, wake)
    with store.session_scope() as session:
        wakeup.queue_changed(session)
    assert woken == ["woken"]


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each kind: SQLite is watched by polling, PostgreSQL by LISTEN/NOTIFY."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture
def api_only(queue_database: str, tmp_path: Path, training_dir: Path) -> Iterator[TestClient]:
    """Process A: the API with its scheduler off, and a project to run."""
    settings = make_settings(
        queue_database, tmp_path / "data", training=training_settings(training_dir, scheduler=False)
    )
    client = TestClient(create_app(settings))
    client.__enter__()
    response = client.post(
        "/projects",
        json={"name": "demo", "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"},
        headers=ALICE,
    )
    assert response.status_code == 201, response.text
    yield client
    clear_tables(client.app.state.store)
    client.__exit__(None, None, None)


@pytest.mark.slow
def test_a_run_created_by_another_process_starts_promptly(
    api_only: TestClient, queue_database: str, training_dir: Path, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TUNING_DATABASE_URL": queue_database,
        "TUNING_TRAINING_DIR": str(training_dir),
        "TUNING_TRAINING_WORKDIR": ".",
        "TUNING_TRAINING_COMMAND": json.dumps(COMMAND),
        "TUNING_MONITOR_INTERVAL": str(LONG_INTERVAL),
        "TUNING_RUN_AS_USER": "",  # see tests/conftest.py
        "TUNING_DEMO_MODEL": "0",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            env=env,
            cwd=training_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "run worker started" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(1.0)  # its first passes are over: it now sleeps for the interval
        run = start_run(api_only, {"env": {"FAKE_STEPS": "1"}})
        started = wait_for_status(api_only, run["id"], {"running", *TERMINAL}, timeout=PROMPTLY)
        assert started["status"] == "running"
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
