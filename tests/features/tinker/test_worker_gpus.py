"""Training workers hold GPUs in the ledger runs and deployments use, and give them back.

No GPU here: the inventory comes from TUNING_GPUS, as on a host without NVML; the
worker still sees its GPU in CUDA_VISIBLE_DEVICES (and, finding no CUDA, runs on the CPU).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from src.features.gpus import service as gpus_service
from src.features.tinker import workers
from src.storage import Store
from src.storage.tables import GpuLease, TinkerFuture, TinkerWorker
from tests.support.server import live_server

ALICE = "alice-key-0123456789abcdef"
BASE = "tuning/tiny-test"
OTHER = "tuning/tiny-other"  # the same files under another name: a second worker


@pytest.fixture
def server(tmp_path: Path, database_url: str, tiny_model: Path) -> Iterator[str]:
    with live_server(
        database_url,
        tmp_path,
        TUNING_API_KEYS=json.dumps([{"key": ALICE, "owner": "alice", "role": "user"}]),
        TUNING_MODEL_CATALOG=json.dumps({BASE: str(tiny_model), OTHER: str(tiny_model)}),
        TUNING_GPUS="0",
        TUNING_TINKER_WORKER_IDLE_SECONDS="2",
    ) as url:
        yield url


def _post(server: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server}{path}", json=body, headers={"Authorization": f"Bearer {ALICE}"}, timeout=60)


def _gpu_holder(server: str) -> dict | None:
    gpus = httpx.get(f"{server}/v1/gpus", headers={"Authorization": f"Bearer {ALICE}"}).json()["data"]
    return gpus[0]["holder"]


def _wait_job(server: str, job_id: str) -> dict:
    job = httpx.get(
        f"{server}/v1/jobs/{job_id}",
        params={"wait": 25},
        headers={"Authorization": f"Bearer {ALICE}"},
        timeout=60,
    ).json()
    assert job["status"] == "completed", job
    return job


def test_a_worker_holds_a_gpu_of_the_ledger_and_gives_it_back(server: str, database_url: str) -> None:
    created = _post(server, "/v1/runs", {"base_model": BASE, "lora_rank": 4})
    assert created.status_code == 201, created.text
    _wait_job(server, created.json()["job_id"])
    holder = _gpu_holder(server)
    assert holder is not None and holder["type"] == "tinker_worker"

    store = Store(database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            worker = session.get(TinkerWorker, holder["id"])
            assert worker is not None and worker.pid is not None
            environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
        assert b"CUDA_VISIBLE_DEVICES=0" in environ  # the worker sees the GPU it holds, only that one
    finally:
        store.dispose()

    # the only GPU is held: a second base model's worker cannot start
    refused = _post(server, "/v1/runs", {"base_model": OTHER, "lora_rank": 4})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "gpus_taken"
    assert "tinker_worker" in refused.json()["error"]["message"]

    # the run ends, the worker lets its adapter go, idles 2 s and leaves: the GPU is free again
    assert httpx.delete(
        f"{server}/v1/runs/{created.json()['run_id']}", headers={"Authorization": f"Bearer {ALICE}"}
    ).is_success
    deadline = time.monotonic() + 60
    while _gpu_holder(server) is not None:
        assert time.monotonic() < deadline, "the worker kept its GPU"
        time.sleep(0.5)
    again = _post(server, "/v1/runs", {"base_model": OTHER, "lora_rank": 4})
    assert again.status_code == 201, again.text
    _wait_job(server, again.json()["job_id"])

    # a worker killed outright: the service's sweeper gives its GPU back without any call touching it
    holder = _gpu_holder(server)
    assert holder is not None
    store = Store(database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            pid = session.get(TinkerWorker, holder["id"]).pid
    finally:
        store.dispose()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while _gpu_holder(server) is not None:
        assert time.monotonic() < deadline, "a dead worker kept its GPU"
        time.sleep(0.5)


def test_sweep_frees_the_gpu_of_a_worker_killed_with_the_service(database_url: str) -> None:
    """A worker recorded as running whose process is gone gives its GPU back at start; its requests fail."""
    store = Store(database_url, pool_size=1)
    store.upgrade()
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    child, other = subprocess.Popen(command), subprocess.Popen(command)
    try:
        with store.session_scope() as session:
            for worker_id, pid in (("tw-gone", child.pid), ("tw-live", other.pid)):
                session.add(
                    TinkerWorker(
                        id=worker_id,
                        base_model=BASE,
                        host=socket.gethostname(),
                        pid=pid,
                        command=command,
                        status="ready",
                    )
                )
            session.flush()
            gpus_service.acquire(session, gpu_ids=["0"], holder_type=workers.GPU_HOLDER, holder_id="tw-gone")
            gpus_service.acquire(session, gpu_ids=["1"], holder_type=workers.GPU_HOLDER, holder_id="tw-live")
            session.add(
                TinkerFuture(id="req-waiting", owner="alice", worker_id="tw-gone", kind="sample", payload=b"")
            )
        with store.session_scope() as session:
            assert workers.sweep(session) == 0  # both processes still run: nothing to sweep
        child.send_signal(signal.SIGKILL)
        child.wait()
        with store.session_scope() as session:
            assert workers.sweep(session) == 1
        with store.session_scope(read_only=True) as session:
            assert session.get(GpuLease, "0") is None and session.get(GpuLease, "1") is not None
            assert session.get(TinkerWorker, "tw-gone").status == "failed"
            assert session.get(TinkerWorker, "tw-live").status == "ready"
            future = session.get(TinkerFuture, "req-waiting")
            assert (future.status, future.category) == ("failed", "server")
    finally:
        for process in (child, other):
            if process.poll() is None:
                process.kill()
                process.wait()
        from tests.conftest import clear_tables

        clear_tables(store)
        store.dispose()
