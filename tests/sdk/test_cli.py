"""The `tuning` CLI with Typer's CliRunner against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuning_sdk.cli import app
from typer.testing import CliRunner

from tests.features.tunings.conftest import TINY
from tests.sdk.conftest import KEY

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(start_live_server, monkeypatch: pytest.MonkeyPatch):
    base = start_live_server()
    monkeypatch.setenv("TUNING_BASE_URL", base)
    monkeypatch.setenv("TUNING_API_KEY", KEY)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that Rich tables do not truncate ids
    runner = CliRunner()

    def run(*args: str) -> object:
        return runner.invoke(app, list(args))

    return run


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
    monkeypatch.setenv("TUNING_API_KEY", "wrong-key-0000")
    assert cli("jobs", "list").exit_code == 1
