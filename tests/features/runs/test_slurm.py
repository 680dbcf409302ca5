"""Runs on a real Slurm cluster: `scripts/slurm-test-cluster.sh up` (two nodes, two fake GPUs each).

A real service (`python main.py`, TUNING_EXECUTOR=slurm) submits through the API; the
training command is a shell script that prints where it ran, waits while its HOLD file
exists (so a test decides when a run ends instead of racing a sleep), and exits as told.
Skipped without the cluster (SLURM_CONF), a failure under CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.features.deployments.conftest import FAKE_COMMAND  # the stand-in vLLM
from tests.support.server import free_port, live_server

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CLUSTER = os.environ.get("SLURM_CONF") and shutil.which("sbatch")
if not CLUSTER and os.environ.get("CI"):
    raise RuntimeError('CI needs the Slurm test cluster: eval "$(bash scripts/slurm-test-cluster.sh up)"')
pytestmark = pytest.mark.skipif(
    not CLUSTER, reason="no Slurm test cluster (scripts/slurm-test-cluster.sh up)"
)

SHOW = """#!/bin/sh
echo "rank=${SLURM_PROCID:-?} node=${SLURMD_NODENAME:-?} cvd=${CUDA_VISIBLE_DEVICES:-} uid=$(id -u)"
while [ -n "${HOLD:-}" ] && [ -e "$HOLD" ]; do sleep 0.2; done
sleep "${SLEEP:-1}"
exit "${CODE:-0}"
"""
HEADERS = {"Authorization": "Bearer test-admin-key-000"}


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the run user reaches (pytest's own tmp is 0700 root's)."""
    root = Path(os.environ.get("TUNING_SLURM_TEST_DIR", "/var/tmp/tuning-slurm")) / "work"
    path = root / uuid.uuid4().hex[:12]
    (path / "training").mkdir(parents=True)
    path.chmod(0o755)
    (path / "training").chmod(0o755)
    (path / "training" / "show.sh").write_text(SHOW)
    (path / "training" / "d.jsonl").write_text('{"instruction": "a", "output": "b"}\n')
    (path / "training" / "c.yaml").write_text("model_name_or_path: m\nstage: sft\n")
    for name in ("show.sh", "d.jsonl", "c.yaml"):
        (path / "training" / name).chmod(0o755)
    (path / "models" / "tiny").mkdir(parents=True)
    (path / "models" / "tiny" / "config.json").write_text("{}")
    for part in (path / "models", path / "models" / "tiny"):
        part.chmod(0o755)
    (path / "models" / "tiny" / "config.json").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def service(database_url: str, workdir: Path) -> Iterator[httpx.Client]:
    with _service(database_url, workdir) as client:
        client.post("/projects", json={"name": "p"}).raise_for_status()
        yield client


def _service(database_url: str, workdir: Path, *, clear: bool = True, ports: str | None = None):
    """The service with runs, tuning jobs and model servers on the cluster (the stand-in vLLM)."""
    if ports is None:
        start = min(free_port(), 65000)
        ports = f"{start}-{start + 20}"

    @contextlib.contextmanager
    def started() -> Iterator[httpx.Client]:
        with (
            live_server(
                database_url,
                workdir,
                clear=clear,
                TUNING_EXECUTOR="slurm",
                TUNING_TUNING_EXECUTOR="slurm",
                TUNING_DEPLOY_EXECUTOR="slurm",
                TUNING_DEPLOY_COMMAND=json.dumps(FAKE_COMMAND),
                TUNING_DEPLOY_PORTS=ports,
                TUNING_DEPLOY_HEALTH_INTERVAL="0.3",
                TUNING_MODEL_ROOTS=str(workdir / "models"),
                TUNING_RUN_AS_USER="tuning",
                TUNING_TRAINING_DIR=str(workdir / "training"),
                TUNING_TRAINING_COMMAND='["sh", "{workspace}/../../show.sh"]',
                TUNING_TUNING_COMMAND='["sh", "{workspace}/../../show.sh"]',
                TUNING_ENV_ALLOWLIST='["SLEEP", "CODE", "HOLD"]',
                TUNING_MONITOR_INTERVAL="0.2",
                TUNING_CANCEL_GRACE="3",
            ) as url,
            httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client,
        ):
            try:
                yield client
            finally:
                if clear:
                    _cancel_all_jobs()  # a failed test leaves no job to hold GPUs the next one needs

    return started()


def _cancel_all_jobs() -> None:
    ids = subprocess.run(
        ["squeue", "--noheader", "--format=%i"], capture_output=True, text=True
    ).stdout.split()
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _squeue():
        time.sleep(0.3)


def _create(client: httpx.Client, **body: object) -> str:
    answer = client.post("/projects/p/runs", json={"dataset": "d.jsonl", "train_config": "c.yaml", **body})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _poll(fetch: Callable[[], dict], done: Callable[[dict], bool], what: str, timeout: float = 60) -> dict:
    """`fetch()` every 0.2 s until `done` says yes; the last answer goes into the failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}: {value}")
        time.sleep(0.2)


def _wait(client: httpx.Client, run_id: str, *statuses: str, timeout: float = 60) -> dict:
    return _poll(
        lambda: client.get(f"/runs/{run_id}").json(),
        lambda run: run["status"] in statuses,
        f"{run_id} reaches {statuses}",
        timeout,
    )


def _hold(workdir: Path) -> Path:
    """A file that keeps every run given it as HOLD running until the test removes it."""
    path = workdir / "training" / f"hold-{uuid.uuid4().hex[:8]}"
    path.touch()
    return path


def _output(workdir: Path, run_id: str) -> str:
    return (workdir / "training" / "runs" / run_id / "output.log").read_text()


def _squeue() -> list[str]:
    return subprocess.run(
        ["squeue", "--noheader", "--format=%j|%T"], capture_output=True, text=True, check=True
    ).stdout.split()


def test_runs_spread_over_both_nodes_as_the_run_user_and_a_fifth_waits(
    service: httpx.Client, workdir: Path
) -> None:
    hold = _hold(workdir)
    runs = [_create(service, gpus=1, env={"HOLD": str(hold)}) for _ in range(5)]
    running = [_wait(service, run_id, "running") for run_id in runs[:4]]
    placed = sorted(gpu for run in running for gpu in run["gpu_ids"])
    assert placed == ["gpu1:0", "gpu1:1", "gpu2:0", "gpu2:1"]
    waiting = _poll(
        lambda: service.get(f"/runs/{runs[4]}").json(),
        lambda run: (run["pending_reason"] or "").startswith("waiting in Slurm: "),
        "Slurm gives the fifth run a reason to wait",
    )
    assert waiting["status"] == "pending"
    # "Resources" once Slurm's scheduler has tried it; "Priority" when it was submitted while the
    # first four were still queued ahead of it and no scheduling pass has looked at it since
    assert waiting["pending_reason"] in ("waiting in Slurm: Resources", "waiting in Slurm: Priority")
    assert waiting["queue_position"] == 1
    hold.unlink()
    for run_id in runs:
        assert _wait(service, run_id, "succeeded", "failed")["status"] == "succeeded"
    for run in running:  # where Slurm says it ran is where it ran, as the run user
        name, index = run["gpu_ids"][0].split(":")
        assert f"node={name} cvd={index} uid={_uid('tuning')}" in _output(workdir, run["id"])


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def test_exit_codes_and_cancel_of_pending_and_running_runs(service: httpx.Client, workdir: Path) -> None:
    failed = _create(service, gpus=1, env={"CODE": "6"})
    hold = _hold(workdir)
    blockers = [_create(service, gpus=2, env={"HOLD": str(hold)}) for _ in range(2)]
    for run_id in blockers:
        _wait(service, run_id, "running")
    pending = _create(service, gpus=1)
    assert _wait(service, failed, "failed")["error"]["exit_code"] == 6
    assert service.get(f"/runs/{pending}").json()["status"] == "pending"
    assert service.post(f"/runs/{pending}/cancel").status_code == 200
    assert service.post(f"/runs/{blockers[0]}/cancel").status_code == 200
    cancelled = _wait(service, blockers[0], "cancelled", timeout=30)
    assert cancelled["error"]["exit_code"] == 143  # the wrapper's TERM trap ran
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(name.startswith(pending) for name in _squeue()):
        time.sleep(0.3)
    assert not any(line.startswith(pending) for line in _squeue()), "the cancelled pending run's job is left"
    service.post(f"/runs/{blockers[1]}/cancel")
    _wait(service, blockers[1], "cancelled", timeout=30)


def test_a_two_node_run_starts_a_rank_on_each_node(service: httpx.Client, workdir: Path) -> None:
    run_id = _create(service, gpus=2, nodes=2)
    run = _wait(service, run_id, "succeeded", "failed", timeout=60)
    assert run["status"] == "succeeded", run
    lines = sorted(_output(workdir, run_id).splitlines())
    assert lines[0].startswith("rank=0 node=gpu1 cvd=0,1")
    assert lines[1].startswith("rank=1 node=gpu2 cvd=0,1")


def test_multi_node_needs_slurm_and_slurm_env_is_refused(service: httpx.Client) -> None:
    answer = service.post(
        "/projects/p/runs",
        json={"dataset": "d.jsonl", "train_config": "c.yaml", "nodes": 2, "executor": "local"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "nodes"
    answer = service.post(
        "/projects/p/runs",
        json={"dataset": "d.jsonl", "train_config": "c.yaml", "env": {"SBATCH_PARTITION": "x"}},
    )
    assert answer.status_code == 400, answer.text


def _wait_deployment(client: httpx.Client, deployment_id: str, *statuses: str, timeout: float = 60) -> dict:
    return _poll(
        lambda: client.get(f"/deployments/{deployment_id}").json(),
        lambda info: info["status"] in statuses,
        f"{deployment_id} reaches {statuses}",
        timeout,
    )


def _job_state(name: str) -> str | None:
    for line in _squeue():
        job, _, state = line.partition("|")
        if job == name:
            return state
    return None


def _node_address(node: str) -> str:
    detail = subprocess.run(["scontrol", "show", "node", node], capture_output=True, text=True, check=True)
    return detail.stdout.split("NodeAddr=")[1].split()[0]


def test_a_model_server_is_a_slurm_job_probed_and_proxied_on_its_node_and_stopped_by_scancel(
    service: httpx.Client, workdir: Path
) -> None:
    refused = service.post("/deployments", json={"model_path": "tiny", "preferred_gpu": 0})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "preferred_gpu"
    assert "Slurm" in refused.json()["error"]["message"]
    answer = service.post("/deployments", json={"model_path": "tiny", "gpu_count": 2})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["executor"] == "slurm" and created["status"] == "starting" and created["gpu_ids"] == []
    info = _wait_deployment(service, created["id"], "running", "failed")
    assert info["status"] == "running", info
    node = info["node"]
    assert info["gpu_ids"] == [f"{node}:0", f"{node}:1"]
    assert info["base_url"] == f"http://{_node_address(node)}:{info['port']}"
    assert "--tensor-parallel-size 2" in info["vllm_cmd"] and "--host 0.0.0.0" in info["vllm_cmd"]
    assert _job_state(created["id"]) == "RUNNING"
    log = (workdir / "training" / "deployments" / created["id"] / "server.log").read_text()
    assert "CUDA_VISIBLE_DEVICES=0,1" in log  # the GPUs Slurm gave the job
    # the proxy reaches the server on its node, with the upstream key the job got in its environment
    completion = service.post(
        f"/deployments/{created['id']}/v1/completions",
        json={"model": "tiny", "prompt": "Hi", "max_tokens": 2},
    )
    assert completion.status_code == 200, completion.text
    assert service.delete(f"/deployments/{created['id']}").status_code == 200
    stopped = service.get(f"/deployments/{created['id']}").json()
    assert stopped["status"] == "stopped"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _job_state(created["id"]) in ("RUNNING", "COMPLETING"):
        time.sleep(0.3)
    assert _job_state(created["id"]) in (None, "CANCELLED"), _squeue()


def test_runs_and_a_model_server_keep_running_through_a_restart_of_the_service(
    database_url: str, workdir: Path
) -> None:
    start = min(free_port(), 65000)
    ports = f"{start}-{start + 20}"
    with _service(database_url, workdir, clear=False, ports=ports) as client:
        client.post("/projects", json={"name": "p"}).raise_for_status()
        hold = _hold(workdir)
        run_id = _create(client, gpus=1, env={"HOLD": str(hold)})
        deployment = client.post("/deployments", json={"model_path": "tiny", "gpu_count": 1}).json()
        running = _wait(client, run_id, "running")
        served = _wait_deployment(client, deployment["id"], "running")
    # the service is down; Slurm keeps both jobs
    assert _job_state(run_id) == "RUNNING" and _job_state(deployment["id"]) == "RUNNING"
    with _service(database_url, workdir, ports=ports) as client:
        again = client.get(f"/deployments/{deployment['id']}").json()
        assert again["status"] == "running" and again["job_id"] == served["job_id"], again
        assert _wait(client, run_id, "running")["gpu_ids"] == running["gpu_ids"]
        hold.unlink()
        finished = _wait(client, run_id, "succeeded", "failed", timeout=60)
        assert finished["status"] == "succeeded", finished
        completion = client.post(
            f"/deployments/{deployment['id']}/v1/completions",
            json={"model": "tiny", "prompt": "Hi", "max_tokens": 1},
        )
        assert completion.status_code == 200, completion.text
        client.delete(f"/deployments/{deployment['id']}?force=true")


def _cluster(*args: str) -> None:
    subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "slurm-test-cluster.sh"), *args], check=True)


def test_a_killed_slurmd_leaves_the_run_running_and_a_lost_node_fails_its_run(
    service: httpx.Client, workdir: Path
) -> None:
    survivor_hold, doomed_hold = _hold(workdir), _hold(workdir)
    survivor = _create(service, gpus=2, env={"HOLD": str(survivor_hold)})
    doomed = _create(service, gpus=2, env={"HOLD": str(doomed_hold)})
    nodes = {
        run_id: _wait(service, run_id, "running")["gpu_ids"][0].split(":")[0] for run_id in (survivor, doomed)
    }
    try:
        _cluster("node-kill", nodes[survivor])  # slurmd dies; the job's processes do not
        survivor_hold.unlink()
        finished = _wait(service, survivor, "succeeded", "failed", timeout=60)
        assert finished["status"] == "succeeded", finished
        _cluster("node-start", nodes[survivor])
        _cluster("node-lose", nodes[doomed])  # the host is gone: slurmd and the job's processes
        subprocess.run(
            ["scontrol", "update", f"nodename={nodes[doomed]}", "state=down", "reason=lost in a test"],
            check=True,
        )
        lost = _wait(service, doomed, "failed", timeout=60)
        assert lost["error"]["cause"] == "lost", lost
        assert "NODE_FAIL" in lost["error"]["message"], lost
    finally:
        _cluster("node-start", nodes[doomed])


def test_a_fine_tuning_job_follows_the_tuning_executor_onto_the_cluster(
    service: httpx.Client, workdir: Path
) -> None:
    dataset = service.post("/v1/datasets", json={"name": "chat"}).json()["id"]
    record = {"messages": [{"role": "user", "content": "hi?"}, {"role": "assistant", "content": "hello"}]}
    lines = "\n".join(json.dumps(record) for _ in range(8)) + "\n"
    uploaded = service.put(f"/v1/datasets/{dataset}/files", files={"file": ("chat.jsonl", lines.encode())})
    assert uploaded.json()["status"] == "valid", uploaded.text
    created = service.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": dataset})
    assert created.status_code in (200, 201), created.text
    job_id = created.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = service.get(f"/v1/tunings.get/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert job["status"] == "succeeded", job
    run = service.get(f"/runs/{job['run_id']}").json()
    assert run["executor"] == "slurm" and run["gpu_ids"][0].split(":")[0] in ("gpu1", "gpu2"), run
    assert "node=gpu" in _output(workdir, job["run_id"])


def test_two_replicas_watching_one_model_server_submit_one_job(database_url: str, workdir: Path) -> None:
    start = min(free_port(), 65000)
    ports = f"{start}-{start + 20}"
    with (
        _service(database_url, workdir, ports=ports) as first,
        _service(database_url, workdir, clear=False, ports=ports) as second,
    ):
        created = first.post("/deployments", json={"model_path": "tiny", "gpu_count": 1})
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
        info = _wait_deployment(second, deployment_id, "running")
        jobs = subprocess.run(
            ["squeue", "--noheader", "--states=all", f"--name={deployment_id}", "--format=%i"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert jobs == [info["job_id"]], jobs
        assert second.delete(f"/deployments/{deployment_id}").status_code == 200
