"""Attacks on deployments and model servers (issue 12), each as a user key would make it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.features.deployments.conftest import wait_for

ALICE = bearer(ALICE_KEY)
BOB = bearer(BOB_KEY)


@pytest.fixture
def deploy_app(deploy_client, model_roots: Path) -> Callable[..., TestClient]:
    """The deployments feature's client (a stand-in model server), with a chat template to point at."""
    (model_roots / "qwen2.5" / "template.jinja").write_text("{{ messages }}")
    return deploy_client


def deploy(client: TestClient, headers: dict[str, str] = ALICE, **body: object) -> dict:
    response = client.post("/deployments", json={"model_path": "qwen2.5", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def stop_all(client: TestClient) -> None:
    for info in client.get("/deployments", headers=bearer(ADMIN_KEY)).json()["data"]:
        client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=bearer(ADMIN_KEY))


def test_restart_answers_and_the_new_server_serves(deploy_app) -> None:
    """Restart used to wait on its own request's write lock: 500 "database is locked" after 30 s."""
    client = deploy_app()
    old = wait_for(
        client, deploy(client, gpu_count=1, extra_args="--max-model-len 2048")["deployment_id"], {"running"}
    )
    started = time.monotonic()
    response = client.post(f"/deployments/{old['deployment_id']}/restart", headers=ALICE)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 15
    new = response.json()
    assert new["deployment_id"] != old["deployment_id"] and new["gpu_ids"] == old["gpu_ids"]
    assert new["vllm_cmd"].endswith("--max-model-len 2048")
    assert client.get(f"/deployments/{old['deployment_id']}", headers=ALICE).json()["status"] == "stopped"
    assert wait_for(client, new["deployment_id"], {"running"})["health_ok"] is True
    assert client.post(f"/deployments/{new['deployment_id']}/restart", headers=BOB).status_code == 404
    stop_all(client)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("--por 21007", "--port"),  # an argparse prefix
        ("--served_model_name other", "--served-model-name"),  # underscores read as dashes
        ("--tensor_parallel_size 2", "--tensor-parallel-size"),
        ("-pp 2", "--pipeline-parallel-size"),
        ("--api-key known", "--api-key"),
        ("--lora-modules x=/etc", "--lora-modules"),
        ("--tokenizer /etc", "--tokenizer"),
        ("--tokenizer=../../../etc", "--tokenizer"),
        ("--chat-template /etc/passwd", "--chat-template"),
        ("--allowed-local-media-path /", "--allowed-local-media-path"),
        ("--download-dir /tmp", "--download-dir"),
        ("--config /etc/passwd", "--config"),
        ("--middleware evil.module", "--middleware"),
        ("--tool-parser-plugin /tmp/plugin.py", "--tool-parser-plugin"),
        ("--max-num 4", "--max-num"),  # ambiguous: --max-num-seqs or --max-num-batched-tokens
        ("--made-up-flag 1", "--made-up-flag"),
        ("--max-model-len 2048 stray", "stray"),
    ],
)
def test_extra_args_are_judged_as_the_servers_parser_reads_them(deploy_app, extra: str, named: str) -> None:
    client = deploy_app()
    response = client.post(
        "/deployments", json={"model_path": "qwen2.5", "extra_args": extra, "gpu_count": 0}, headers=ALICE
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "extra_args" and named in error["message"]
    assert client.get("/deployments", headers=ALICE).json()["data"] == []


def test_extra_args_reach_the_server_spelled_out_and_confined(deploy_app, model_roots: Path) -> None:
    """What passes is handed on in full spelling, so the server never resolves a prefix itself."""
    client = deploy_app()
    info = deploy(
        client,
        gpu_count=0,
        extra_args="--max_model 2k --tokenizer qwen2.5 --chat-template=qwen2.5/template.jinja --enforce",
    )
    assert info["vllm_cmd"].endswith(
        "--max-model-len 2k --tokenizer qwen2.5 --chat-template qwen2.5/template.jinja --enforce-eager"
    )
    # the server gets the resolved paths (admins see them), so its working directory does not matter
    as_admin = client.get(f"/deployments/{info['deployment_id']}", headers=bearer(ADMIN_KEY)).json()
    tokenizer = model_roots.resolve() / "qwen2.5"
    assert as_admin["vllm_cmd"].endswith(
        f"--tokenizer {tokenizer} --chat-template {tokenizer / 'template.jinja'} --enforce-eager"
    )
    stop_all(client)


def test_trust_remote_code_needs_the_admin_setting(deploy_app) -> None:
    refused = deploy_app().post(
        "/deployments",
        json={"model_path": "qwen2.5", "extra_args": "--trust_remote", "gpu_count": 0},
        headers=ALICE,
    )
    assert refused.status_code == 400 and "--trust-remote-code" in refused.json()["error"]["message"]
    allowed = deploy_app(deploy_trust_remote_code=True)
    assert deploy(allowed, gpu_count=0, extra_args="--trust-remote-code")["vllm_cmd"].endswith(
        "--trust-remote-code"
    )
    stop_all(allowed)


def test_an_adapters_base_model_stays_inside_the_model_roots(deploy_app, tmp_path: Path) -> None:
    from src.storage.tables import Run
    from tests.support.rows import add_run

    client = deploy_app()
    client.post("/projects", json={"name": "lora"}, headers=ALICE)
    outside = tmp_path / "elsewhere" / "model"
    outside.mkdir(parents=True)
    (outside / "config.json").write_text("{}")
    for base in (str(outside), "../elsewhere/model"):
        run_id = add_run(client.app.state.store, project="lora", status="succeeded")
        output = client.app.state.training_layout.host_workspace(run_id) / "output"
        output.mkdir(parents=True)
        (output / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
        with client.app.state.store.session_scope() as session:
            run = session.get(Run, run_id)
            run.output_dir, run.executor = str(output), "local"
        response = client.post("/deployments", json={"run_id": run_id, "gpu_count": 0}, headers=ALICE)
        assert response.status_code == 400, (base, response.text)
        assert response.json()["error"]["param"] == "run_id"
    assert client.get("/deployments", headers=ALICE).json()["data"] == []


@pytest.mark.parametrize(
    "path", ["%2e%2e/health", "..%2Fhealth", "%252e%252e/health", "models/%2e%2e/%2e%2e/health"]
)
def test_the_proxy_forwards_only_v1_paths(deploy_app, path: str) -> None:
    client = deploy_app()
    info = wait_for(client, deploy(client, gpu_count=0)["deployment_id"], {"running"})
    escaped = client.get(f"/deployments/{info['deployment_id']}/v1/{path}", headers=ALICE)
    assert escaped.status_code == 404 and escaped.json()["error"]["param"] == "path", escaped.text
    inside = client.get(f"/deployments/{info['deployment_id']}/v1/chat/%2e%2e/models", headers=ALICE)
    assert inside.status_code == 200 and inside.json()["data"][0]["id"] == "qwen2.5"
    stop_all(client)


@pytest.mark.parametrize(
    "body",
    [
        {"model_path": "qwen2.5\x00"},
        {"model_path": "/\x00/etc"},
        {"model_path": "qwen2.5", "model_version": "v1\x00"},
        {"model_path": "qwen2.5", "model_version": "v1 --port 1"},
        {"model_path": "qwen2.5", "extra_args": "--max-model-len 20\x0048"},
    ],
)
def test_odd_characters_in_a_deployment_are_4xx_not_500(deploy_app, body: dict) -> None:
    client = TestClient(deploy_app().app, raise_server_exceptions=False)
    response = client.post("/deployments", json={**body, "gpu_count": 0}, headers=ALICE)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()
    assert client.get("/deployments", headers=ALICE).json()["data"] == []


def test_the_model_server_answers_only_through_the_proxy(deploy_app) -> None:
    """Another local process cannot skip the proxy's owner checks by calling the server's port."""
    client = deploy_app()
    info = wait_for(client, deploy(client, gpu_count=0)["deployment_id"], {"running"})
    completion = {"model": "qwen2.5", "prompt": "Hi", "max_tokens": 1}
    direct = httpx.post(f"{info['base_url']}/v1/completions", json=completion)
    assert direct.status_code == 401
    with_user_key = httpx.post(f"{info['base_url']}/v1/completions", json=completion, headers=ALICE)
    assert with_user_key.status_code == 401
    assert httpx.get(f"{info['base_url']}/health").status_code == 200  # the probe's path needs no key
    proxied = client.post(
        f"/deployments/{info['deployment_id']}/v1/completions", json=completion, headers=ALICE
    )
    assert proxied.status_code == 200 and proxied.json()["choices"][0]["text"] == "hello"
    environ = Path(f"/proc/{info['pid']}/environ").read_bytes().split(b"\0")
    key = next(item.split(b"=", 1)[1].decode() for item in environ if item.startswith(b"VLLM_API_KEY="))
    assert key not in json.dumps(info) and key not in info["vllm_cmd"]
    assert (
        httpx.post(f"{info['base_url']}/v1/completions", json=completion, headers=bearer(key)).status_code
        == 200
    )
    other = wait_for(client, deploy(client, gpu_count=0)["deployment_id"], {"running"})
    assert (
        httpx.post(f"{other['base_url']}/v1/completions", json=completion, headers=bearer(key)).status_code
        == 401
    )  # one key per deployment
    logs = client.get(f"/deployments/{info['deployment_id']}/logs", headers=ALICE).json()["lines"]
    assert not any(key in line for line in logs)
    stop_all(client)


def test_a_409_names_no_other_owners_deployment(deploy_app) -> None:
    client = deploy_app()
    bobs = deploy(client, headers=BOB, preferred_gpu="0")
    taken = client.post("/deployments", json={"model_path": "qwen2.5", "preferred_gpu": "0"}, headers=ALICE)
    assert taken.status_code == 409
    assert bobs["deployment_id"] not in taken.json()["error"]["message"]
    assert "another owner" in taken.json()["error"]["message"]
    alices = deploy(client, preferred_gpu="1")
    none_left = client.post("/deployments", json={"model_path": "qwen2.5"}, headers=ALICE).json()["error"]
    assert (
        bobs["deployment_id"] not in none_left["message"] and alices["deployment_id"] in none_left["message"]
    )
    as_admin = client.post("/deployments", json={"model_path": "qwen2.5"}, headers=bearer(ADMIN_KEY))
    assert bobs["deployment_id"] in as_admin.json()["error"]["message"]
    stop_all(client)


def test_a_user_key_sees_no_absolute_host_path(deploy_app, tmp_path: Path) -> None:
    client = deploy_app()
    info = deploy(client, gpu_count=0, extra_args="--tokenizer qwen2.5")
    listed = client.get("/deployments", headers=ALICE).json()["data"]
    for shown in (info, client.get(f"/deployments/{info['deployment_id']}", headers=ALICE).json(), *listed):
        assert str(tmp_path) not in json.dumps(shown)
        assert (
            shown["model_path"] == "qwen2.5"
            and shown["log_file"] == f"deploy_logs/{info['deployment_id']}.log"
        )
        assert "--model qwen2.5 " in shown["vllm_cmd"] and "--tokenizer qwen2.5" in shown["vllm_cmd"]
    assert [
        d["deployment_id"] for d in client.get("/deployments?model=qwen2.5", headers=ALICE).json()["data"]
    ] == [info["deployment_id"]]
    as_admin = client.get(f"/deployments/{info['deployment_id']}", headers=bearer(ADMIN_KEY)).json()
    assert as_admin["model_path"].startswith("/") and str(tmp_path) in as_admin["vllm_cmd"]
    stop_all(client)
