"""Deployments end to end with the stand-in model server."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from src.features.gpus import service as gpus_service
from src.utils import processes
from tests.conftest import ADMIN_KEY, BOB_KEY, bearer
from tests.features.deployments.conftest import ALICE, wait_for


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def deploy(client: TestClient, **body: object) -> dict:
    payload = {"model_path": "qwen2.5", **body}
    response = client.post(
        "/deployments", json={k: v for k, v in payload.items() if v is not None}, headers=ALICE
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_deploy_serve_proxy_and_stop(deploy_client) -> None:
    client = deploy_client()
    info = deploy(
        client,
        model_version="v1",
        tags=["demo"],
        served_model_name="qwen-demo",
        extra_args="--max-model-len 2048",
    )
    assert info["status"] == "starting" and info["gpu_ids"] == ["0"] and info["gpu_id"] == 0
    assert info["id"] == info["deployment_id"]
    assert f"--port {info['port']}" in info["vllm_cmd"] and info["vllm_cmd"].endswith("--max-model-len 2048")
    assert info["log_file"] == f"deploy_logs/{info['deployment_id']}.log"
    running = wait_for(client, info["deployment_id"], {"running"})
    assert running["health_ok"] is True and process_alive(running["pid"])

    logs = client.get(f"/deployments/{info['deployment_id']}/logs?tail=50", headers=ALICE).json()["lines"]
    assert "CUDA_VISIBLE_DEVICES=0" in logs and any("--max-model-len" in line for line in logs)
    gpus = client.get("/v1/gpus", headers=ALICE).json()["data"]
    assert gpus[0]["holder"] == {"type": "deployment", "id": info["deployment_id"]}

    answer = client.post(
        f"/deployments/{info['deployment_id']}/v1/completions",
        json={"model": "qwen-demo", "prompt": "Hi", "max_tokens": 4},
        headers=ALICE,
    )
    assert answer.json()["choices"][0]["text"] == "hello from the stand-in"
    chunks = []
    with client.stream(
        "POST",
        f"/deployments/{info['deployment_id']}/v1/completions",
        json={"model": "qwen-demo", "prompt": "Hi", "stream": True},
        headers=ALICE,
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[6:])["choices"][0]["text"])
    assert chunks == ["hello", " from", " the", " stand-in"]
    assert [
        d["deployment_id"] for d in client.get("/deployments?tag=demo", headers=ALICE).json()["data"]
    ] == [info["deployment_id"]]

    removed = client.delete(f"/deployments/{info['deployment_id']}", headers=ALICE)
    assert removed.json() == {"detail": "deployment removed", "deployment_id": info["deployment_id"]}
    stopped = client.get(f"/deployments/{info['deployment_id']}", headers=ALICE).json()
    assert stopped["status"] == "stopped" and not process_alive(running["pid"])
    assert all(g["holder"] is None for g in client.get("/v1/gpus", headers=ALICE).json()["data"])
    again = deploy(client)
    assert again["port"] == info["port"]  # the port went back to the pool
    client.delete(f"/deployments/{again['deployment_id']}?force=true", headers=ALICE)


# seed 004's "创建模型部署" request body, copied as the seed gives it
SEED_DEPLOYMENT_BODY = """
{
  "model_path": "models/qwen2.5",
  "model_version": "v1",
  "tags": ["demo"],
  "extra_args": "--max-num-seqs 4",
  "preferred_gpu": 0,
  "health_path": "/health"
}
"""


def test_seed_deployment_body_verbatim_lands_on_gpu_0(deploy_client, model_roots: Path) -> None:
    (model_roots / "models" / "qwen2.5").mkdir(parents=True)
    (model_roots / "models" / "qwen2.5" / "config.json").write_text("{}")
    client = deploy_client()
    response = client.post(
        "/deployments",
        content=SEED_DEPLOYMENT_BODY,
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["gpu_id"] == 0 and info["gpu_ids"] == ["0"]
    assert info["id"] == info["deployment_id"] and info["model_path"] == "models/qwen2.5"
    assert info["model_version"] == "v1" and info["tags"] == ["demo"] and info["health_path"] == "/health"
    assert info["vllm_cmd"].endswith("--max-num-seqs 4")
    running = wait_for(client, info["deployment_id"], {"running"})
    assert running["gpu_id"] == 0
    gpus = client.get("/v1/gpus", headers=ALICE).json()["data"]
    assert gpus[0]["holder"] == {"type": "deployment", "id": info["deployment_id"]}
    listed = client.get("/deployments?model=models/qwen2.5&status=running", headers=ALICE).json()["data"]
    assert [d["id"] for d in listed] == [info["deployment_id"]]
    taken = client.post(
        "/deployments", content=SEED_DEPLOYMENT_BODY, headers={**ALICE, "Content-Type": "application/json"}
    )
    assert taken.status_code == 409 and taken.json()["error"]["param"] == "preferred_gpu"
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)


@pytest.mark.parametrize("preferred", [1, "1"])
def test_preferred_gpu_as_index_or_id(deploy_client, preferred: object) -> None:
    client = deploy_client()
    info = deploy(client, preferred_gpu=preferred)
    assert info["gpu_id"] == 1 and info["gpu_ids"] == ["1"]
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)


@pytest.mark.parametrize("preferred", [True, -1, 0.5, 7, "gpu-9"])
def test_preferred_gpu_outside_the_inventory_is_refused(deploy_client, preferred: object) -> None:
    client = deploy_client()
    response = client.post(
        "/deployments", json={"model_path": "qwen2.5", "preferred_gpu": preferred}, headers=ALICE
    )
    assert response.status_code in (400, 422), response.text
    assert "preferred_gpu" in json.dumps(response.json()["error"]["param"])
    assert client.get("/deployments", headers=ALICE).json()["data"] == []


def test_force_stop_kills_at_once(deploy_client) -> None:
    client = deploy_client(deploy_stop_grace=30.0)
    info = wait_for(client, deploy(client)["deployment_id"], {"running"})
    started = time.monotonic()
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)
    assert time.monotonic() - started < 10
    assert not process_alive(info["pid"])


def test_gpu_taken_by_a_run_is_409_naming_the_holder_to_admins_only(deploy_client) -> None:
    client = deploy_client()
    store = client.app.state.store
    with store.session_scope() as session:
        gpus_service.acquire(session, gpu_ids=["0"], holder_type="run", holder_id="run-busy")
    response = client.post(
        "/deployments", json={"model_path": "qwen2.5", "preferred_gpu": "0"}, headers=ALICE
    )
    assert response.status_code == 409
    assert "0: held by another owner" in response.json()["error"]["message"]
    assert "run-busy" not in response.json()["error"]["message"]
    as_admin = client.post(
        "/deployments", json={"model_path": "qwen2.5", "preferred_gpu": "0"}, headers=bearer(ADMIN_KEY)
    )
    assert as_admin.status_code == 409 and "0: run run-busy" in as_admin.json()["error"]["message"]
    other = deploy(client)
    assert other["gpu_ids"] == ["1"]
    none_left = client.post("/deployments", json={"model_path": "qwen2.5"}, headers=ALICE)
    assert none_left.status_code == 409 and none_left.json()["error"]["type"] == "conflict_error"
    client.delete(f"/deployments/{other['deployment_id']}?force=true", headers=ALICE)


@pytest.mark.parametrize(
    "extra",
    [
        "--port 1",
        "; rm -rf /",
        "$(id)",
        "--host=0.0.0.0",
        "--served-model-name x",
        "--tensor-parallel-size 8",
        "a | b",
        "`id`",
    ],
)
def test_extra_args_cannot_inject_or_override_placement(deploy_client, extra: str) -> None:
    client = deploy_client()
    response = client.post(
        "/deployments", json={"model_path": "qwen2.5", "extra_args": extra, "gpu_count": 0}, headers=ALICE
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "extra_args"
    assert client.get("/deployments", headers=ALICE).json()["data"] == []


def test_model_path_must_stay_under_the_roots(deploy_client, tmp_path: Path) -> None:
    client = deploy_client()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    for path in ("../elsewhere", str(outside), "missing", "/etc"):
        response = client.post("/deployments", json={"model_path": path}, headers=ALICE)
        assert response.status_code == 400 and response.json()["error"]["param"] == "model_path", path


def test_crash_is_failed_with_resources_released(deploy_client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CRASH_AFTER", "1.0")
    client = deploy_client()
    info = deploy(client)
    failed = wait_for(client, info["deployment_id"], {"failed"}, timeout=10)
    assert "exited (code 3)" in failed["error"] and "engine died" in failed["error"]
    assert all(g["holder"] is None for g in client.get("/v1/gpus", headers=ALICE).json()["data"])
    monkeypatch.delenv("FAKE_CRASH_AFTER")
    assert deploy(client)["port"] == info["port"]


def test_an_exit_code_is_read_even_when_proc_calls_the_server_gone_first(
    deploy_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load /proc showed the exiting server as gone while poll() still said running; the monitor
    then reported "code None". The service is the server's parent, so its exit status decides."""
    monkeypatch.setenv("FAKE_CRASH_AFTER", "1.0")
    monkeypatch.setattr(processes, "is_alive", lambda pid, *, command: False)  # /proc: gone from the start
    client = deploy_client()
    info = deploy(client, gpu_count=0)
    failed = wait_for(client, info["deployment_id"], {"failed"}, timeout=10)
    assert failed["exit_code"] == 3 and "exited (code 3)" in failed["error"], failed
    assert not process_alive(info["pid"])  # reaped: no zombie left


def test_a_stopped_server_keeps_its_exit_code(deploy_client) -> None:
    client = deploy_client()
    info = wait_for(client, deploy(client, gpu_count=0)["deployment_id"], {"running"})
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)
    stopped = client.get(f"/deployments/{info['deployment_id']}", headers=ALICE).json()
    assert stopped["status"] == "stopped" and stopped["exit_code"] == -9  # SIGKILL, as force asks


def test_failing_health_is_unhealthy_never_running(deploy_client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_HEALTH", "1")
    client = deploy_client()
    info = deploy(client, gpu_count=0)
    time.sleep(1.5)
    assert client.get(f"/deployments/{info['deployment_id']}", headers=ALICE).json()["status"] == "starting"
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)


def test_twenty_parallel_deployments_never_share_a_port(deploy_client) -> None:
    client = deploy_client()

    def create(_: int) -> dict:
        return client.post("/deployments", json={"model_path": "tiny", "gpu_count": 0}, headers=ALICE).json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = list(pool.map(create, range(20)))
    ports = [info["port"] for info in infos]
    assert len(set(ports)) == 20
    for info in infos:
        client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)


def test_other_owners_see_404(deploy_client) -> None:
    client = deploy_client()
    info = deploy(client, gpu_count=0)
    bob = bearer(BOB_KEY)
    assert client.get(f"/deployments/{info['deployment_id']}", headers=bob).status_code == 404
    assert client.delete(f"/deployments/{info['deployment_id']}", headers=bob).status_code == 404
    assert client.get("/deployments", headers=bob).json()["data"] == []
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)
    assert os.environ.get("FAKE_CRASH_AFTER") is None


def test_deploy_a_runs_lora_output(deploy_client, model_roots: Path) -> None:
    """A succeeded run whose output is a LoRA adapter: the base model plus --enable-lora --lora-modules."""
    from tests.support.rows import add_run

    client = deploy_client()
    client.post("/projects", json={"name": "lora"}, headers=ALICE)
    run_id = add_run(client.app.state.store, project="lora", status="succeeded")
    output = client.app.state.training_layout.host_workspace(run_id) / "output"
    output.mkdir(parents=True)
    base = model_roots / "qwen2.5"
    (output / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    with client.app.state.store.session_scope() as session:
        from src.storage.tables import Run

        run = session.get(Run, run_id)
        run.output_dir, run.executor = str(output), "local"
    info = deploy(client, model_path=None, run_id=run_id, served_model_name="support-lora", gpu_count=0)
    assert info["model_path"] == "qwen2.5"  # a user key sees paths relative to where they live
    assert f"--enable-lora --lora-modules support-lora=runs/{run_id}/output" in info["vllm_cmd"]
    assert "--served-model-name support-lora-base" in info["vllm_cmd"]
    as_admin = client.get(f"/deployments/{info['deployment_id']}", headers=bearer(ADMIN_KEY)).json()
    assert as_admin["model_path"] == str(base.resolve())
    assert f"--lora-modules support-lora={output}" in as_admin["vllm_cmd"]
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)
    unfinished = add_run(client.app.state.store, project="lora", status="running")
    refused = client.post("/deployments", json={"run_id": unfinished}, headers=ALICE)
    assert refused.status_code == 400 and "only a succeeded run" in refused.json()["error"]["message"]
