"""The example scripts run to the end against a live server with the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.features.tunings.conftest import TINY
from tests.sdk.conftest import KEY
from tests.support.server import PROJECT_ROOT

pytestmark = pytest.mark.slow


def run_example(script: str, base: str, training_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TUNING_BASE_URL": base,
        "TUNING_API_KEY": KEY,
        "TUNING_EXAMPLE_MODEL": TINY,
        "TUNING_EXAMPLE_FILE": str(training_file),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "examples" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_basic_usage(start_live_server, training_file: Path) -> None:
    result = run_example("basic_usage.py", start_live_server(), training_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finished: succeeded" in result.stdout
    assert "result file: adapter_model.safetensors" in result.stdout


def test_advanced_usage_all(start_live_server, training_file: Path) -> None:
    result = run_example("advanced_usage.py", start_live_server(), training_file, "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "bad key -> AuthenticationError (401)" in out and "missing job -> NotFoundError (404)" in out
    assert "outside the block: closed" in out
    assert "ended cancelled" in out
    assert "log lines; job succeeded" in out
    assert "after cancel: ['cancelled', 'cancelled', 'cancelled']" in out
    assert "ETA" in out and "done: succeeded" in out


def test_deid_then_tune(start_live_server, tmp_path: Path) -> None:
    from tests.features.tunings.conftest import chat_jsonl

    training_file = tmp_path / "chats.jsonl"
    pii = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "call 13812345678"},
                {"role": "assistant", "content": "ok"},
            ]
        }
    )
    training_file.write_bytes(chat_jsonl() + (pii + "\n").encode() * 4)
    result = run_example("deid_then_tune.py", start_live_server(), training_file)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "客户张三 手机<PHONE_1> 邮箱<EMAIL_1>" in out
    assert "de-identified 20 records: {'PHONE': 4}" in out
    assert "13812345678" not in out.split("de-identified", 1)[1]
    assert "tuning on the clean copy: succeeded" in out
