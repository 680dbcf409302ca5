"""The plain run API (EZTinker's `/v1/runs`, `/v1/sample`, `/v1/jobs`) and the EZTinker client, live.

A real server with the tiny test model in its catalog (also under the demo model's
name, so `eztinker demo`'s default works), its workers on the CPU, and the
stand-in vLLM for deploying a checkpoint.
"""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.features.deployments.conftest import FAKE_COMMAND, port_range
from tests.support.server import live_server

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
SDK_KEY = "tml-alice-0123456789abcdef"
BASE = "tuning/tiny-test"
DEMO = "tuning/tiny-demo"
TEXT = "the quick brown fox jumps over the lazy dog. " * 2


@pytest.fixture
def server(
    tmp_path: Path, database_url: str, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    keys = [
        {"key": ALICE, "owner": "alice", "role": "user"},
        {"key": SDK_KEY, "owner": "alice", "role": "user"},
        {"key": BOB, "owner": "bob", "role": "user"},
    ]
    with live_server(
        database_url,
        tmp_path,
        TUNING_API_KEYS=json.dumps(keys),
        TUNING_MODEL_CATALOG=json.dumps({BASE: str(tiny_model), DEMO: str(tiny_model)}),
        TUNING_GPUS="0,1",
        TUNING_DEPLOY_COMMAND=json.dumps(FAKE_COMMAND),
        TUNING_DEPLOY_PORTS=port_range(),
        TUNING_DEPLOY_HEALTH_INTERVAL="0.2",
        TUNING_DEPLOY_STOP_GRACE="2",
    ) as url:
        yield url


@pytest.fixture
def tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_seed_client_trains_samples_saves_and_is_owner_scoped(server: str, tokenizer, tmp_path: Path) -> None:
    from eztinker import EZTinkerClient
    from tuning_sdk.errors import ConflictError, InvalidRequestError, NotFoundError

    with EZTinkerClient(base_url=server, api_key=ALICE) as client:
        run_id = client.create_run(BASE, lora_rank=8, lora_alpha=16, label="custom123", seed=0)
        assert run_id.startswith("sess-") and run_id.endswith(":train:0")  # the server's id, not the label
        run = client.get_run(run_id)
        assert (run["label"], run["lora_alpha"], run["status"], run["client"]) == (
            "custom123",
            16.0,
            "ready",
            "eztinker",
        )

        input_ids = tokenizer.encode(TEXT)
        losses = []
        for _ in range(15):
            losses.append(client.forward_backward(run_id, input_ids)["loss"])
            client.optim_step(run_id, learning_rate=5e-3)
        assert losses[-1] < 0.7 * losses[0], losses
        # forward only: the loss without a step, the same twice
        seen = client.forward(run_id, input_ids)["loss"]
        assert seen == pytest.approx(client.forward(run_id, input_ids)["loss"]) and seen < losses[0]
        steps = client.get_run(run_id)["steps"]
        assert steps == 15 * 2 + 2  # forward_backward and optim_step 15 times, 2 forwards

        text = client.sample(TEXT[:20], max_new_tokens=8, temperature=0, run_id=run_id)
        base_text = client.sample(TEXT[:20], max_new_tokens=8, temperature=0)  # the last run's base model
        assert isinstance(text, str) and isinstance(base_text, str)
        assert len(client.sample_many("the", 3, max_new_tokens=4, run_id=run_id)) == 3

        path = client.save_checkpoint(run_id, "final")
        assert path == f"tinker://{run_id}/weights/final"
        [checkpoint] = client.list_checkpoints(run_id)
        assert checkpoint["tinker_path"] == path and checkpoint["size_bytes"] > 0
        with pytest.raises(InvalidRequestError, match="exists already"):  # refused before it is queued
            client.save_checkpoint(run_id, "final")

        archive = client.download_checkpoint(checkpoint["checkpoint_id"], tmp_path)
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        assert {"final/adapter_config.json", "final/adapter_model.safetensors", "final/optimizer.pt"} <= names

        # Bob sees none of it: every id of Alice's is a 404 to him
        with EZTinkerClient(base_url=server, api_key=BOB) as bob:
            assert bob.list_runs() == [] and bob.list_checkpoints() == []
            with pytest.raises(NotFoundError):
                bob.get_run(run_id)
            with pytest.raises(NotFoundError):
                bob.forward_backward(run_id, input_ids)
            with pytest.raises(NotFoundError):
                bob.sample("hi", run_id=run_id)
            with pytest.raises(NotFoundError):
                bob.download_checkpoint(checkpoint["checkpoint_id"], tmp_path / "bob.tar.gz")
            with pytest.raises(NotFoundError) as hidden:
                bob.list_checkpoints(run_id)
            assert hidden.value.param == "run_id"
            with pytest.raises(NotFoundError, match="no such route"):  # one path segment, not /v1/gpus
                bob.get_run("../../v1/gpus")
        job = httpx.post(f"{server}/v1/sample", json={"prompt": "hi"}, headers=_headers(ALICE)).json()
        assert httpx.get(f"{server}/v1/jobs/{job['job_id']}", headers=_headers(BOB)).status_code == 404

        # a run ended is gone (410); its checkpoint stays
        client.delete_run(run_id)
        with pytest.raises(Exception) as ended:
            client.optim_step(run_id)
        assert getattr(ended.value, "status_code", None) == 410
        assert client.list_checkpoints(run_id)[0]["name"] == "final"
        with pytest.raises(ConflictError):  # a run of the tinker SDK is not driven from here
            _sdk_run_via_plain_api(server, client)


def _sdk_run_via_plain_api(server: str, client) -> None:
    import tinker

    sdk = tinker.ServiceClient(base_url=server, api_key=SDK_KEY)
    try:
        training = sdk.create_lora_training_client(base_model=BASE, rank=4).result()
        listed = {run["run_id"]: run["client"] for run in client.list_runs()}
        assert listed[training.model_id] == "sdk"  # the SDK's runs are listed beside this API's
        client.optim_step(training.model_id)
    finally:
        sdk.close("success").result(timeout=30)


def test_text_steps_and_concurrent_calls_are_queued_in_turn(server: str) -> None:
    from eztinker import EZTinkerClient

    with EZTinkerClient(base_url=server, api_key=ALICE) as client:
        run_id = client.create_run(BASE, lora_rank=4)
        first = client.forward_backward_text(
            run_id, " jumps over the lazy dog.", prompt="the quick brown fox"
        )
        assert first["loss"] > 0 and first["metrics"]["tokens:sum"] > 0
        # calls at once on one run get seq_ids one after the other, none lost or merged
        results: list[dict] = []
        errors: list[BaseException] = []

        def step() -> None:
            try:
                with EZTinkerClient(base_url=server, api_key=ALICE) as own:
                    results.append(own.forward_backward_text(run_id, " the lazy dog."))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=step) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors and len(results) == 4
        assert client.get_run(run_id)["steps"] == 1 + 4  # the first step and the four


def test_bad_input_is_refused_clearly(server: str) -> None:
    from eztinker import EZTinkerClient, JobFailedError

    with EZTinkerClient(base_url=server, api_key=ALICE) as client:
        run_id = client.create_run(BASE, lora_rank=4)
        with pytest.raises(JobFailedError, match="vocabulary") as failed:
            client.forward_backward(run_id, [1, 2, 10**6])
        assert failed.value.category == "user"
        assert client.forward_backward(run_id, [1, 2, 3])["loss"] > 0  # the run goes on
    post = lambda path, body: httpx.post(f"{server}{path}", json=body, headers=_headers(ALICE))  # noqa: E731
    cases = [
        ("/v1/runs", {"base_model": "no/such-model"}, 400, "not on this server"),
        ("/v1/runs", {"base_model": BASE, "lora_rank": 0}, 422, "lora_rank"),
        ("/v1/runs", {"base_model": BASE, "label": "a\nb"}, 422, "label"),
        (
            f"/v1/runs/{run_id}/forward_backward",
            {"input_ids": [1, 2], "completion": "x"},
            422,
            "one of the two",
        ),
        (f"/v1/runs/{run_id}/forward_backward", {"input_ids": [1, -2]}, 422, "input_ids"),
        (f"/v1/runs/{run_id}/forward_backward", {"input_ids": [1, 2], "weights": [1.0]}, 400, "weights"),
        (f"/v1/runs/{run_id}/forward_backward", {"input_ids": list(range(9000))}, 422, "input_ids"),
        (f"/v1/runs/{run_id}/optim_step", {"learning_rate": -1}, 422, "learning_rate"),
        (f"/v1/runs/{run_id}/checkpoints", {"name": "../escape"}, 422, "name"),
        ("/v1/sample", {"prompt": "x" * 40_000}, 422, "prompt"),
        ("/v1/sample", {"prompt": "hi", "base_model": "../../etc"}, 400, "not on this server"),
        ("/v1/sample", {"prompt": "hi", "base_model": BASE, "run_id": run_id}, 422, "not both"),
        ("/v1/runs/sess-0000000000000000:train:0/optim_step", {}, 404, "not found"),
    ]
    for path, body, status, words in cases:
        answer = post(path, body)
        assert answer.status_code == status, (path, body, answer.text)
        assert words in json.dumps(answer.json()["error"]), (path, answer.text)
    assert httpx.get(f"{server}/v1/runs/not-a-run", headers=_headers(ALICE)).status_code == 422
    assert httpx.get(f"{server}/v1/runs").status_code == 401


def test_cli_commands_and_demo(server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from eztinker.cli import app
    from tuning_sdk.cli import app as tuning_app
    from typer.testing import CliRunner

    monkeypatch.setenv("TUNING_BASE_URL", server)
    monkeypatch.setenv("TUNING_API_KEY", ALICE)
    runner = CliRunner()

    def run(*args: str, cli=app) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, (args, result.output)
        return result.output

    assert run("version").startswith("eztinker ")
    assert json.loads(run("health"))["status"] == "healthy"
    run_id = run("create", "--model", BASE, "--run-id", "custom123").strip()
    assert run_id.endswith(":train:0")
    listed = json.loads(run("list-runs", "--json"))
    assert [(r["run_id"], r["label"]) for r in listed] == [(run_id, "custom123")]
    assert run_id in run("list-runs")  # the table shows the id as it is (`:train:` is no emoji code)
    assert "1 live run(s)" in run("status")
    assert isinstance(
        run("sample", "the quick", "--max-tokens", "5", "--temperature", "0", "--run-id", run_id), str
    )
    path = run("save", run_id, "cli-ckpt").strip()
    assert path == f"tinker://{run_id}/weights/cli-ckpt"
    [checkpoint] = json.loads(run("checkpoints", "--run-id", run_id, "--json"))
    saved = Path(run("download", checkpoint["checkpoint_id"], str(tmp_path)).strip())
    with tarfile.open(saved) as tar:
        assert saved.name == "cli-ckpt.tar.gz" and "cli-ckpt/adapter_config.json" in tar.getnames()
    assert (
        json.loads(run("tinker", "list-runs", "--json", cli=tuning_app))[0]["run_id"] == run_id
    )  # `tuning tinker`
    assert f"run {run_id} ended" in run("delete", run_id)
    refused = runner.invoke(app, ["delete", "sess-0000000000000000:train:0"])
    assert refused.exit_code == 1 and "not found" in refused.output

    # on the demo model's name (the tiny model here), offline
    demo = run("demo", "--rounds", "2", "--max-samples", "2", "--num-candidates", "2")
    lines = demo.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("round")] == ["round 1", "round 2"]
    assert "best of 2" in demo and any(line.startswith("saved tinker://") for line in lines)
    [demo_run] = [r for r in json.loads(run("list-runs", "--json")) if r["label"] == "eztinker-demo"]
    assert demo_run["base_model"] == DEMO and demo_run["steps"] > 2 * 2 * 2  # 2 rounds x 2 problems x 3 calls
    assert [c["name"] for c in json.loads(run("checkpoints", "--run-id", demo_run["run_id"], "--json"))] == [
        "eztinker-demo"
    ]


def test_a_checkpoint_deploys_as_base_model_plus_adapter(server: str) -> None:
    """One call: POST /deployments {"checkpoint"}; the stand-in vLLM serves the adapter under its name."""
    import time

    from eztinker import EZTinkerClient

    with EZTinkerClient(base_url=server, api_key=ALICE) as client:
        run_id = client.create_run(BASE, lora_rank=4)
        client.forward_backward(run_id, [1, 2, 3, 4])
        client.optim_step(run_id)
        path = client.save_checkpoint(run_id, "to-serve")
    answer = httpx.post(
        f"{server}/deployments", json={"checkpoint": path, "gpu_count": 0}, headers=_headers(ALICE)
    )
    assert answer.status_code == 201, answer.text
    info = answer.json()
    assert info["checkpoint"] == path and info["served_model_name"] == "to-serve"
    assert "--enable-lora" in info["vllm_cmd"] and "--lora-modules to-serve=" in info["vllm_cmd"]
    deployment = info["deployment_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = httpx.get(f"{server}/deployments/{deployment}", headers=_headers(ALICE)).json()["status"]
        if status == "running":
            break
        assert status == "starting", status
        time.sleep(0.2)
    completion = httpx.post(
        f"{server}/deployments/{deployment}/v1/completions",
        json={"model": "to-serve", "prompt": "Hi", "max_tokens": 4},
        headers=_headers(ALICE),
    ).json()
    assert "adapter to-serve" in completion["choices"][0]["text"]
    assert "adapter_model.safetensors" in completion["choices"][0]["text"]  # the checkpoint's own files
    # Bob cannot deploy Alice's checkpoint, nor name a path that is not a tinker:// path
    bob = httpx.post(
        f"{server}/deployments", json={"checkpoint": path, "gpu_count": 0}, headers=_headers(BOB)
    )
    assert bob.status_code == 404
    bad = httpx.post(
        f"{server}/deployments", json={"checkpoint": "/etc/passwd", "gpu_count": 0}, headers=_headers(ALICE)
    )
    assert bad.status_code == 422
    both = httpx.post(
        f"{server}/deployments",
        json={"checkpoint": path, "model_path": "x", "gpu_count": 0},
        headers=_headers(ALICE),
    )
    assert both.status_code == 400 and "one of" in both.text
    assert httpx.delete(f"{server}/deployments/{deployment}", headers=_headers(ALICE)).status_code == 200


def test_eztinker_server_starts_the_service(tmp_path: Path, database_url: str) -> None:
    """`eztinker server` serves this service (the plain run API answers with the bootstrap key)."""
    import subprocess
    import sys

    from tests.support.server import free_port, server_env, wait_until_healthy

    port = free_port()
    env = server_env(database_url, port, TUNING_DATA_DIR=str(tmp_path / "data"))
    command = [sys.executable, "-m", "eztinker.cli", "server", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--checkpoints-dir", str(tmp_path / "ckpts")],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(process, port, timeout=60)
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/runs", headers=_headers("test-admin-key-000"))
        assert answer.status_code == 200 and answer.json() == {"data": [], "total": 0}
    finally:
        process.terminate()
        process.wait(timeout=30)
