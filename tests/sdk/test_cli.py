"""The `tuning` CLI with Typer's CliRunner against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuning_sdk.cli import app
from typer.testing import CliRunner, Result

from tests.features.tunings.conftest import TINY
from tests.sdk.conftest import DEPLOYABLE, KEY

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_on(start_live_server, monkeypatch: pytest.MonkeyPatch):
    """Start a server with these settings; returns a function that runs the CLI against it."""

    def start(**settings: str):
        monkeypatch.setenv("TUNING_BASE_URL", start_live_server(**settings))
        monkeypatch.setenv("TUNING_API_KEY", KEY)
        monkeypatch.setenv("COLUMNS", "200")
        runner = CliRunner()

        def run(*args: str) -> Result:
            return runner.invoke(app, list(args))

        return run

    return start


@pytest.fixture
def cli(cli_on):
    return cli_on()


def test_cli_end_to_end(cli, training_file: Path, tmp_path: Path) -> None:
    assert cli("version").stdout.strip() == "tuning-sdk 0.1.0"
    health = cli("health")
    assert health.exit_code == 0 and json.loads(health.stdout)["status"] == "healthy"

    uploaded = cli("files", "upload", str(training_file))
    assert uploaded.exit_code == 0, uploaded.output
    file_id = json.loads(uploaded.stdout)["id"]
    listed = json.loads(cli("files", "list", "--json").stdout)
    assert [f["id"] for f in listed] == [file_id]

    created = cli(
        "jobs", "create", "--model", TINY, "--training-file", file_id, "--epochs", "1", "--suffix", "cli"
    )
    assert created.exit_code == 0, created.output
    job_id = json.loads(created.stdout)["id"]
    waited = cli("jobs", "wait", job_id, "--poll-interval", "0.2")
    assert waited.exit_code == 0, waited.output
    assert f"{job_id} succeeded {TINY}-cli-" in waited.stdout
    jobs = json.loads(cli("jobs", "list", "--json").stdout)
    assert [j["id"] for j in jobs] == [job_id] and jobs[0]["status"] == "succeeded"
    assert json.loads(cli("jobs", "get", job_id).stdout)["metrics"]["progress"] == 1.0
    logs = cli("jobs", "logs", job_id, "--follow")
    assert logs.exit_code == 0 and "saved lora weights" in logs.stdout
    assert "saved lora weights" in cli("jobs", "logs", job_id, "--tail", "5").stdout

    status = cli("status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["health"]["status"] == "healthy"

    dataset_id = json.loads(cli("datasets", "create", "chats").stdout)["id"]
    assert cli("datasets", "upload", dataset_id, str(training_file)).exit_code == 0
    assert json.loads(cli("datasets", "get", dataset_id).stdout)["status"] == "ready"
    assert dataset_id in [d["id"] for d in json.loads(cli("datasets", "list", "--json").stdout)]
    yaml_file = tmp_path / "sft.yaml"
    yaml_file.write_text("stage: sft\n")
    assert cli("configs", "upload", str(yaml_file)).exit_code == 0
    assert "sft.yaml" in [c["name"] for c in json.loads(cli("configs", "list", "--json").stdout)]
    assert cli("projects", "create", "cli-project").exit_code == 0
    assert [p["name"] for p in json.loads(cli("projects", "list", "--json").stdout)] >= ["cli-project"]
    table = cli("jobs", "list")
    assert job_id in table.stdout and "succeeded" in table.stdout


def test_cli_errors_are_one_line_and_exit_1(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = cli("jobs", "get", "job-000000000000")
    assert missing.exit_code == 1
    assert missing.stderr.strip().startswith("error: tuning job 'job-000000000000' not found")
    assert len(missing.stderr.strip().splitlines()) == 1
    malformed = cli("jobs", "get", "job-doesnotexist")
    assert malformed.exit_code == 1
    assert malformed.stderr.startswith("error: tuning job 'job-doesnotexist' not found (status 404")
    assert cli("deployments", "get", "dep-000000000000").stderr.startswith("error: deployment")
    monkeypatch.setenv("TUNING_API_KEY", "wrong-key-0000")
    assert cli("jobs", "list").exit_code == 1


def test_cli_without_a_key_says_how_to_give_one(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNING_API_KEY")
    refused = cli("jobs", "list")
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "TUNING_API_KEY" in refused.stderr and "--api-key" in refused.stderr
    assert "--api-key" in cli("--help").stdout
    given = cli("--api-key", KEY, "jobs", "list", "--json")
    assert given.exit_code == 0 and json.loads(given.stdout) == []


def test_cli_tables_keep_ids_whole_in_a_narrow_terminal(
    cli_on, training_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = cli_on(TUNING_SCHEDULER="0")  # the job stays pending: nothing to wait for
    file_id = json.loads(cli("files", "upload", str(training_file)).stdout)["id"]
    job_id = json.loads(cli("jobs", "create", "--model", TINY, "--training-file", file_id).stdout)["id"]
    dataset_id = json.loads(cli("datasets", "create", "chats").stdout)["id"]
    monkeypatch.setenv("COLUMNS", "40")
    for command, wanted in ((("jobs", "list"), job_id), (("datasets", "list"), dataset_id)):
        table = cli(*command)
        assert table.exit_code == 0, table.output
        assert wanted in table.stdout, table.stdout


def test_cli_deployments_and_models(
    cli_on, deploy_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = cli_on(**deploy_settings)
    models = json.loads(cli("models", "list", "--json").stdout)
    assert TINY in [m["id"] for m in models]
    assert json.loads(cli("models", "get", TINY).stdout)["kind"] == "base"
    assert TINY in cli("models", "list").stdout

    created = cli(
        "deployments",
        "create",
        DEPLOYABLE,
        "--served-model-name",
        "demo",
        "--preferred-gpu",
        "1",
        "--tag",
        "cli",
        "--tag",
        "second",
        "--extra-args",
        "--max-model-len 2048",
        "--wait",
    )
    assert created.exit_code == 0, created.output
    deployment = json.loads(created.stdout)
    dep_id = deployment["id"]
    assert deployment["status"] == "running" and deployment["gpu_ids"] == ["1"]
    assert deployment["tags"] == ["cli", "second"] and "--max-model-len 2048" in deployment["vllm_cmd"]

    listed = json.loads(cli("deployments", "list", "--status", "running", "--json").stdout)
    assert [d["id"] for d in listed] == [dep_id]
    assert json.loads(cli("deployments", "list", "--tag", "nope", "--json").stdout) == []
    assert json.loads(cli("deployments", "get", dep_id).stdout)["served_model_name"] == "demo"
    logs = cli("deployments", "logs", dep_id, "--tail", "20")
    assert logs.exit_code == 0 and "fake vllm: model=" in logs.stdout
    monkeypatch.setenv("COLUMNS", "40")
    assert dep_id in cli("deployments", "list").stdout

    restarted = json.loads(cli("deployments", "restart", dep_id).stdout)
    assert restarted["id"] != dep_id and restarted["served_model_name"] == "demo"
    assert json.loads(cli("deployments", "get", dep_id).stdout)["status"] == "stopped"
    stopped = cli("deployments", "stop", restarted["id"], "--force")
    assert stopped.exit_code == 0 and stopped.stdout.strip() == f"{restarted['id']} stopped"
    refused = cli("deployments", "create", "no-such-model")
    assert refused.exit_code == 1 and "is not a model directory" in refused.stderr
