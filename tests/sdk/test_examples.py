"""The example scripts run to the end against a live server, with the SDK as their only package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.features.tunings.conftest import TINY
from tests.sdk.conftest import KEY
from tests.support.server import PROJECT_ROOT, free_port

pytestmark = pytest.mark.slow

EXAMPLES = PROJECT_ROOT / "examples"
# Runs a script as `python examples/X.py` would, with Rich made unimportable: the examples
# depend on the SDK alone, so a Python with only the SDK's core packages runs them.
WITHOUT_RICH = (
    "import runpy, sys; sys.modules['rich'] = None; sys.argv = sys.argv[1:]; "
    "sys.path.insert(0, sys.argv[0].rsplit('/', 1)[0]); runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_example(
    script: str,
    base: str,
    training_file: Path | None,
    *args: str,
    stdin: str = "",
    model: str | None = TINY,
) -> subprocess.CompletedProcess[str]:
    """Run an example; None for the training file or the model leaves the example's default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNING_EXAMPLE_")}
    env.update({"TUNING_BASE_URL": base, "TUNING_API_KEY": KEY, "COLUMNS": "200"})
    if model is not None:
        env["TUNING_EXAMPLE_MODEL"] = model
    if training_file is not None:
        env["TUNING_EXAMPLE_FILE"] = str(training_file)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RICH, str(EXAMPLES / script), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_basic_usage_with_its_defaults_on_a_fresh_server(start_live_server) -> None:
    base = start_live_server(TUNING_DEMO_MODEL="1")  # as a first start builds it outside the tests
    result = run_example("basic_usage.py", base, None, model=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uploaded chat.jsonl" in result.stdout and " on tuning/tiny-demo: " in result.stdout
    assert "finished: succeeded" in result.stdout
    assert "result file: adapter_model.safetensors" in result.stdout


def test_advanced_usage_shows_its_menu_without_a_server() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    listed = run_example("advanced_usage.py", nowhere, None, "--list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 6 and lines[0] == "1. Error handling: a bad key and a missing job."
    assert lines[5] == "6. A custom progress display with an ETA."
    unanswered = run_example("advanced_usage.py", nowhere, None)
    assert unanswered.returncode == 1 and unanswered.stdout.startswith(listed.stdout)
    assert unanswered.stderr.strip() == "no example chosen: type 1-6, or pass --example N or --all"
    unreachable = run_example("advanced_usage.py", nowhere, None, "--example", "2")
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error: cannot reach the server")


def test_advanced_usage_runs_the_number_typed_after_the_menu(start_live_server, training_file: Path) -> None:
    result = run_example("advanced_usage.py", start_live_server(), training_file, stdin="2\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6. A custom progress display with an ETA.\nexample number: " in result.stdout
    assert "inside the block: healthy" in result.stdout and "outside the block: closed" in result.stdout
    assert "AuthenticationError" not in result.stdout  # only the example chosen runs


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
    assert "客户<PERSON_1> 手机<PHONE_1> 邮箱<EMAIL_1>" in out
    assert "de-identified 20 records: {'PHONE': 4}" in out
    assert "13812345678" not in out.split("de-identified", 1)[1]
    assert "tuning on the clean copy: succeeded" in out
