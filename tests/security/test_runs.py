"""Attacks through a run's inputs: its environment, the paths it names, its YAML, and what it reveals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from app.config import TrainingSettings
from app.factory import build_engine
from tests.conftest import ADMIN_KEY, BOB_KEY, bearer
from tests.features.runs.conftest import ALICE, host_path, start_run, wait_for_status
from tests.support.training import training_settings

BOB = bearer(BOB_KEY)
ADMIN = bearer(ADMIN_KEY)


@pytest.mark.parametrize(
    "name",
    [
        "BASH_ENV",
        "ENV",
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "SHELLOPTS",
        "PS4",
        "IFS",
        "NCCL_NET_PLUGIN",
        "NCCL_TUNER_PLUGIN",
        "TORCH_EXTENSIONS_DIR",
        "TORCHINDUCTOR_CACHE_DIR",
        "HF_HOME",
        "HF_MODULES_CACHE",
        "SOME_UNLISTED_NAME",
    ],
)
def test_env_outside_the_allow_list_is_refused_and_nothing_runs(
    runs_client, training_dir: Path, name
) -> None:
    client = runs_client()
    response = client.post("/projects/demo/runs", json={"env": {name: "$(id > pwned.txt)"}}, headers=ALICE)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == f"env.{name}" and name in error["message"]
    assert client.get("/projects/demo/runs", headers=ALICE).json()["data"] == []
    assert not list(training_dir.rglob("pwned.txt"))


def test_a_planted_shell_on_path_never_runs_even_from_an_old_row(runs_client, training_dir: Path) -> None:
    """A row written before the allow-list existed still launches without PATH or BASH_ENV."""
    client = runs_client(scheduler=False)
    run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    marker = training_dir / "pwned.txt"
    planted = training_dir / "evil"
    planted.mkdir()
    (planted / "sh").write_text(f'#!/bin/sh\nid > {marker}\nexec /bin/sh "$@"\n')
    (planted / "sh").chmod(0o755)
    from src.storage.tables import Run

    with client.app.state.store.session_scope() as session:
        row = session.get(Run, run["id"])
        assert row is not None and row.status == "pending"
        row.env = {**row.env, "PATH": str(planted), "BASH_ENV": str(planted / "sh")}
    engine = build_engine(
        client.app.state.store, client.app.state.settings, layout=client.app.state.training_layout
    )
    engine.start()
    try:
        assert wait_for_status(client, run["id"])["status"] == "succeeded"
    finally:
        engine.stop()
    assert not marker.exists()


def test_forbidden_names_cannot_be_allowed_by_settings() -> None:
    with pytest.raises(ValueError, match="LD_PRELOAD"):
        TrainingSettings(env_allowlist=["WANDB_MODE", "LD_PRELOAD"])
    with pytest.raises(ValueError, match="HF_HOME"):
        TrainingSettings(env_allowlist="HF_HOME")


def test_env_values_are_one_line_and_credentials_are_masked(runs_client) -> None:
    client = runs_client()
    newline = client.post(
        "/projects/demo/runs", json={"env": {"WANDB_MODE": "offline\nLD_PRELOAD=/x.so"}}, headers=ALICE
    )
    assert newline.status_code == 400 and newline.json()["error"]["param"] == "env.WANDB_MODE"
    secret = "wandb-secret-0123456789abcdef"
    run = start_run(client, {"env": {"WANDB_API_KEY": secret, "WANDB_MODE": "offline", "FAKE_STEPS": "1"}})
    assert run["env"]["WANDB_MODE"] == "offline"
    assert secret not in str(run) and run["env"]["WANDB_API_KEY"].startswith("****")
    again = client.get(f"/runs/{run['id']}", headers=ALICE).json()
    assert secret not in str(again)
    from src.storage.tables import Run

    with client.app.state.store.session_scope(read_only=True) as session:
        stored = session.get(Run, run["id"]).env
    assert stored["WANDB_API_KEY"].startswith("sealed:v1:") and secret not in str(stored)
    assert stored["WANDB_MODE"] == "offline"
    # the training process gets the credential opened
    assert wait_for_status(client, run["id"])["status"] == "succeeded"
    assert (host_path(client, run["workspace"]) / "wandb-key-seen").read_text() == secret


@pytest.mark.parametrize("ref", [".", "runs", "runs/", "./runs/x"])
def test_dataset_path_may_not_name_the_workspaces(runs_client, ref: str) -> None:
    client = runs_client()
    response = client.post("/projects/demo/runs", json={"dataset": ref}, headers=ALICE)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "dataset"


def test_another_owners_workspace_files_cannot_be_named(runs_client) -> None:
    client = runs_client()
    alice_run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    wait_for_status(client, alice_run["id"])
    client.post(
        "/projects",
        json={"name": "bobs", "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"},
        headers=BOB,
    )
    for body, param in (
        ({"dataset": f"runs/{alice_run['id']}/data"}, "dataset"),
        ({"train_config": f"runs/{alice_run['id']}/train.yaml"}, "train_config"),
    ):
        response = client.post("/projects/bobs/runs", json=body, headers=BOB)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("output_dir", "../../../x"),
        ("output_dir", "/tmp/elsewhere"),
        ("logging_dir", "/etc"),
        ("dataset_dir", "../../runs"),
        ("adapter_name_or_path", "RUNS/run-other/output"),
    ],
)
def test_yaml_paths_outside_the_run_are_refused(
    runs_client, training_dir: Path, key: str, value: str
) -> None:
    client = runs_client()
    value = value.replace("RUNS", str(training_dir.resolve() / "runs"))
    config = client.post(
        "/v1/train-configs",
        json={"name": "evil.yaml", "content": yaml.safe_dump({"stage": "sft", key: value})},
        headers=ALICE,
    ).json()
    response = client.post("/projects/demo/runs", json={"train_config": config["id"]}, headers=ALICE)
    assert response.status_code == 400, response.text
    assert key in response.json()["error"]["message"]
    assert not (training_dir.parent / "x").exists()


def test_output_dir_is_inside_the_run_and_cannot_reach_another_run(runs_client, training_dir: Path) -> None:
    client = runs_client()
    first = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    wait_for_status(client, first["id"])
    trainer_log = host_path(client, first["output_dir"]) / "trainer_log.jsonl"
    before = trainer_log.read_bytes() if trainer_log.exists() else b""
    # "output" relative to the working directory used to be one shared folder for every run
    config = client.post(
        "/v1/train-configs",
        json={"name": "shared.yaml", "content": "stage: sft\noutput_dir: output\n"},
        headers=ALICE,
    ).json()
    second = start_run(client, {"train_config": config["id"], "env": {"FAKE_STEPS": "1"}})
    assert second["output_dir"] == f"runs/{second['id']}/output"
    assert str(training_dir.resolve()) not in str(second)  # no host path for a user key
    assert wait_for_status(client, second["id"])["status"] == "succeeded"
    after = trainer_log.read_bytes() if trainer_log.exists() else b""
    assert after == before


def test_pending_reason_and_gpu_list_name_only_the_callers_things(app_factory, training_dir: Path) -> None:
    client = app_factory(
        training=training_settings(
            training_dir, gpus=["0"], run_gpus=1, env_allowlist=["FAKE_STEPS", "FAKE_SLEEP"]
        )
    )
    for key, name in ((ALICE, "alices"), (BOB, "bobs")):
        created = client.post(
            "/projects",
            json={"name": name, "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"},
            headers=key,
        )
        assert created.status_code == 201
    alice_run = client.post(
        "/projects/alices/runs", json={"env": {"FAKE_STEPS": "50", "FAKE_SLEEP": "0.2"}}, headers=ALICE
    ).json()
    wait_for_status(client, alice_run["id"], statuses={"running"})
    bob_run = client.post("/projects/bobs/runs", json={"env": {"FAKE_STEPS": "1"}}, headers=BOB).json()
    reason = None
    for _ in range(100):
        reason = client.get(f"/runs/{bob_run['id']}", headers=BOB).json()["pending_reason"]
        if reason and "GPU" in reason:
            break
        time.sleep(0.05)
    assert reason and "held by another owner" in reason and alice_run["id"] not in reason

    bob_gpus = client.get("/v1/gpus", headers=BOB).json()["data"]
    assert bob_gpus[0]["held"] is True and bob_gpus[0]["holder"] is None
    assert alice_run["id"] not in str(bob_gpus)
    alice_gpus = client.get("/v1/gpus", headers=ALICE).json()["data"]
    assert alice_gpus[0]["holder"] == {"type": "run", "id": alice_run["id"]}
    admin_gpus = client.get("/v1/gpus", headers=ADMIN).json()["data"]
    assert admin_gpus[0]["holder"]["id"] == alice_run["id"]
    client.post(f"/runs/{alice_run['id']}/cancel", headers=ALICE)
    client.post(f"/runs/{bob_run['id']}/cancel", headers=BOB)


def test_an_artifact_swapped_for_a_link_is_not_served(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    assert wait_for_status(client, run["id"])["status"] == "succeeded"
    artifact = next(
        a
        for a in client.get(f"/runs/{run['id']}/artifacts", headers=ALICE).json()["data"]
        if a["path"] == "adapter_config.json"
    )
    registered = host_path(client, run["output_dir"]) / "adapter_config.json"
    registered.unlink()
    registered.symlink_to("/etc/passwd")  # what the training process could do after the run
    response = client.get(f"/runs/{run['id']}/artifacts/{artifact['id']}/content", headers=ALICE)
    assert response.status_code == 404 and response.json()["error"]["code"] == "artifact_gone"
    assert b"root:" not in response.content
