"""Two API replicas on one database and one host watch the same local model servers: each starts once.

Both replicas run the deployment manager, probing often, so both see every new deployment
without a server in the same moment; the one that starts it must keep the other from
starting a second server on the same port (which would fail to bind, exit, and fail the
deployment). The stand-in vLLM prints a line as it starts, into the deployment's log.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.features.deployments.conftest import FAKE_COMMAND
from tests.support.server import free_port, live_server

HEADERS = {"Authorization": "Bearer test-admin-key-000"}
SERVERS = 8
STARTED = "fake vllm: model="


@contextlib.contextmanager
def _replica(database_url: str, workdir: Path, ports: str, *, clear: bool) -> Iterator[httpx.Client]:
    with (
        live_server(
            database_url,
            workdir,
            clear=clear,
            TUNING_DEPLOY_COMMAND=json.dumps(FAKE_COMMAND),
            TUNING_DEPLOY_PORTS=ports,
            TUNING_DEPLOY_HEALTH_INTERVAL="0.02",
            TUNING_MODEL_ROOTS=str(workdir / "models"),
            TUNING_TRAINING_DIR=str(workdir / "training"),
            TUNING_RUN_AS_USER="",
        ) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client,
    ):
        yield client


def _wait_all(client: httpx.Client, ids: list[str], timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [client.get(f"/deployments/{deployment_id}").json() for deployment_id in ids]
        if all(info["status"] not in ("starting", "stopping") for info in infos):
            return infos
        time.sleep(0.2)
    raise AssertionError(f"still starting: {[info['status'] for info in infos]}")


@pytest.mark.slow
def test_two_replicas_start_each_local_model_server_once(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text("{}")
    start = min(free_port(), 65000)
    ports = f"{start}-{start + 40}"
    with (
        _replica(database_url, tmp_path, ports, clear=True) as first,
        _replica(database_url, tmp_path, ports, clear=False) as second,
    ):
        ids = []
        for index in range(SERVERS):
            through = (first, second)[index % 2]
            answer = through.post("/deployments", json={"model_path": "tiny", "gpu_count": 0})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        infos = _wait_all(second, ids)
        starts = {}
        for deployment_id in ids:
            lines = first.get(f"/deployments/{deployment_id}/logs").json()["lines"]
            starts[deployment_id] = sum(STARTED in line for line in lines)
        assert [info["status"] for info in infos] == ["running"] * SERVERS, infos
        assert starts == dict.fromkeys(ids, 1), starts
        for deployment_id in ids:
            assert first.delete(f"/deployments/{deployment_id}?force=true").status_code == 200
