"""Start the real server (`python main.py`) as a child process for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUNING_", "TRAINING_"))}
    env.update(
        {
            "TUNING_DATABASE_URL": database_url,
            "TUNING_PORT": str(port),
            "TUNING_API_KEYS": '["test-admin-key-000"]',
            "TUNING_RUN_AS_USER": "",  # see tests/conftest.py
            "TUNING_DEMO_MODEL": "0",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    env.update(extra)
    return env


def start_server(env: dict[str, str], cwd: Path, *, output: Path | None = None) -> subprocess.Popen[str]:
    """`python main.py`; its output is a pipe to read, or goes to the file `output`.

    A server that runs long must write to a file: nobody reads the pipe while the test
    runs, and once its buffer is full the server blocks on its next log line.
    """
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(output.open("w")) if output is not None else subprocess.PIPE
        return subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "main.py")],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )


def wait_until_healthy(process: subprocess.Popen[str], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout is not None else "(see its log file)"
            raise AssertionError(f"server exited early with {process.returncode}: {output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy in time")


@contextlib.contextmanager
def live_server(database_url: str, workdir: Path, *, clear: bool = True, **extra: str) -> Iterator[str]:
    """A server on a free port with its data under `workdir/data`; yields its base URL.

    On the way out it stops the server (TERM, then KILL) and empties the tables (unless
    `clear` is False: a test that starts the service again on the same store).
    """
    port = free_port()
    env = server_env(database_url, port, TUNING_DATA_DIR=str(workdir / "data"), **extra)
    process = start_server(env, workdir, output=workdir / "server.log")
    try:
        wait_until_healthy(process, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
        if clear:
            from src.storage import Store
            from tests.conftest import clear_tables

            store = Store(database_url, pool_size=1)
            clear_tables(store)
            store.dispose()
