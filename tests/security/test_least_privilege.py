"""A root service runs training commands as the unprivileged user, in a workspace that user owns."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.features.runs.conftest import ALICE, host_path, start_run, wait_for_status
from tests.support.training import make_training_dir, training_settings

USER = "tuning"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs a root service")


@pytest.fixture
def tuning_user() -> pwd.struct_passwd:
    """The user scripts/setup.sh creates; made here too when the suite runs without it."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True
        )
        return pwd.getpwnam(USER)


@pytest.fixture
def open_training_dir() -> Iterator[Path]:
    """A training directory the unprivileged user can reach (pytest's own tmp is root-only)."""
    root = Path(tempfile.mkdtemp(prefix="tuning-lp-"))
    root.chmod(0o755)
    try:
        yield make_training_dir(root / "training")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _client(app_factory, training_dir: Path, **overrides: object):
    client = app_factory(
        training=training_settings(
            training_dir, run_as_user=USER, env_allowlist=["FAKE_STEPS", "FAKE_MARK"], **overrides
        )
    )
    created = client.post(
        "/projects",
        json={"name": "demo", "dataset_name": "data/train.jsonl", "training_yaml_name": "configs/sft.yaml"},
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    return client


def test_the_training_command_runs_as_the_unprivileged_user(
    app_factory, open_training_dir: Path, tuning_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    client = _client(app_factory, open_training_dir)
    root_only = tmp_path / "marks.log"  # inside pytest's 0700 directory: root's, not the user's
    run = start_run(client, {"env": {"FAKE_STEPS": "2", "FAKE_MARK": str(root_only)}})
    done = wait_for_status(client, run["id"])
    assert done["status"] == "succeeded", done
    workspace = host_path(client, done["workspace"])
    assert (workspace / "uid").read_text().strip() == str(tuning_user.pw_uid)
    assert workspace.stat().st_uid == tuning_user.pw_uid
    assert (workspace / "output" / "adapter_config.json").stat().st_uid == tuning_user.pw_uid
    assert not root_only.exists(), "the run wrote where only root may"
    logs = client.get(f"/runs/{run['id']}/logs?limit=100", headers=ALICE).json()["data"]
    assert any("Permission denied" in line["line"] for line in logs)


def test_a_place_the_user_cannot_reach_is_a_launch_error(
    app_factory, tmp_path: Path, tuning_user: pwd.struct_passwd
) -> None:
    client = _client(app_factory, make_training_dir(tmp_path / "training"))  # under a 0700 directory
    run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    done = wait_for_status(client, run["id"])
    assert done["status"] == "failed" and done["error"]["cause"] == "launch_error"
    assert USER in done["error"]["message"] and "TUNING_RUN_AS_USER" in done["error"]["message"]
