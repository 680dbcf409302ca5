"""Runs with the docker executor in a real container (Docker engine from scripts/docker-test-engine.sh).

Fails, not skips, under CI when the engine is missing: CI promises one.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.features.runs.conftest import ALICE, start_run, wait_for_status

IMAGE = os.environ.get("TUNING_TEST_DOCKER_IMAGE", "tuning-test-busybox:latest")
CONTAINER_DIR = "/workspace/training"


@pytest.fixture
def docker_container(training_dir: Path) -> Iterator[object]:
    """A running container of the busybox test image with the training dir bind-mounted."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        client.images.get(IMAGE)
    except DockerException as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no Docker engine or test image ({exc}); run scripts/docker-test-engine.sh")
        pytest.skip(f"no Docker engine or test image: {exc}")
    container = client.containers.run(
        IMAGE,
        ["sleep", "2147483647"],
        name=f"tuning-test-{uuid.uuid4().hex[:8]}",
        detach=True,
        network_mode="none",
        volumes={str(training_dir.resolve()): {"bind": CONTAINER_DIR, "mode": "rw"}},
    )
    try:
        yield container
    finally:
        container.remove(force=True)
        client.close()


def docker_client(runs_client, container) -> object:
    return runs_client(
        executor="docker", training_container=container.name, training_container_dir=CONTAINER_DIR
    )


def test_run_in_the_container(runs_client, docker_container) -> None:
    client = docker_client(runs_client, docker_container)
    run = start_run(client, {"env": {"FAKE_STEPS": "3"}})
    assert run["executor"] == "docker"
    assert run["command"] == ["sh", "fake_train.sh", f"{CONTAINER_DIR}/runs/{run['id']}/train.yaml"]
    assert run["output_dir"] == f"{CONTAINER_DIR}/runs/{run['id']}/output"
    done = wait_for_status(client, run["id"])
    assert done["status"] == "succeeded", done
    assert (done["current_step"], done["total_steps"], done["progress"]) == (3, 3, 1.0)
    lines = client.get(f"/runs/{run['id']}/logs?limit=100", headers=ALICE).json()["data"]
    assert lines[0]["line"] == f"run {run['id']} config {CONTAINER_DIR}/runs/{run['id']}/train.yaml gpus []"
    losses = [
        p["loss"]
        for p in client.get(f"/runs/{run['id']}/metrics", headers=ALICE).json()["data"]
        if p["source"] == "trainer_log"
    ]
    assert losses == [1.9, 1.8, 1.7]
    paths = {a["path"] for a in client.get(f"/runs/{run['id']}/artifacts", headers=ALICE).json()["data"]}
    assert {"adapter_model.safetensors", "adapter_config.json", "checkpoint-3/trainer_state.json"} <= paths


def container_processes(container) -> list[str]:
    """Live processes in the container other than its init and the `ps` itself."""
    output = container.exec_run(["ps", "-o", "pid,stat,args"]).output.decode()
    rows = [line.split(None, 2) for line in output.splitlines()[1:]]
    return [
        row[2]
        for row in rows
        if len(row) == 3 and row[0] != "1" and not row[1].startswith("Z") and not row[2].startswith("ps ")
    ]


def test_cancel_kills_the_process_group_in_the_container(runs_client, docker_container) -> None:
    client = docker_client(runs_client, docker_container)
    run = start_run(client, {"env": {"FAKE_STEPS": "300", "FAKE_SLEEP": "0.2"}})
    wait_for_status(client, run["id"], {"running"})
    deadline = time.monotonic() + 10
    while not any("fake_train.sh" in p for p in container_processes(docker_container)):
        assert time.monotonic() < deadline, "the run never showed up in the container"
        time.sleep(0.1)
    client.post(f"/runs/{run['id']}/cancel", headers=ALICE)
    done = wait_for_status(client, run["id"])
    assert done["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while container_processes(docker_container) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert container_processes(docker_container) == []


def test_missing_container_is_a_launch_error(runs_client, docker_container) -> None:
    client = runs_client(
        executor="docker", training_container="no-such-container-xyz", training_container_dir=CONTAINER_DIR
    )
    run = start_run(client)
    done = wait_for_status(client, run["id"])
    assert done["status"] == "failed"
    assert done["error"]["cause"] == "launch_error"
    assert (
        "no-such-container-xyz" in done["error"]["message"] and "does not exist" in done["error"]["message"]
    )
