"""The real server process: no public listening without auth, graceful shutdown, the log file."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.server import free_port, server_env, start_server, wait_until_healthy

pytestmark = pytest.mark.slow


def test_refuses_to_listen_publicly_without_auth(tmp_path: Path, database_url: str) -> None:
    env = server_env(database_url, free_port(), TUNING_AUTH="off", TUNING_HOST="0.0.0.0")
    result = subprocess.run(
        start_server(env, tmp_path).args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "TUNING_ALLOW_INSECURE" in result.stdout + result.stderr


def test_public_listen_without_auth_when_explicitly_allowed(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = server_env(database_url, port, TUNING_AUTH="off", TUNING_HOST="0.0.0.0", TUNING_ALLOW_INSECURE="1")
    process = start_server(env, tmp_path)
    try:
        wait_until_healthy(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_sigterm_finishes_the_request_in_flight(tmp_path: Path, database_url: str) -> None:
    """A request whose body is still arriving when SIGTERM lands is completed, then the server exits."""
    port = free_port()
    log_file = tmp_path / "logs" / "service.log"
    process = start_server(server_env(database_url, port, TUNING_LOG_FILE=str(log_file)), tmp_path)
    try:
        wait_until_healthy(process, port)
        body = json.dumps({"name": "in-flight"}).encode()
        head = (
            "POST /projects HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-admin-key-000\r\n"
            f"X-Request-ID: slow-1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(head + body[:5])
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "server exited with a request in flight"
            conn.sendall(body[5:])
            reply = conn.recv(65536).decode()
        assert reply.startswith("HTTP/1.1 201"), reply
        # uvicorn re-raises the signal once shut down, so the exit reads as SIGTERM's
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read()
    assert "tuning service stopping" in output
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    request = next(r for r in records if r.get("request_id") == "slow-1")
    assert request["status"] == 201 and request["route"] == "/projects"


def test_help_explains_the_settings_and_starts_nothing(tmp_path: Path, database_url: str) -> None:
    env = server_env(database_url, free_port(), TUNING_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [*start_server_args(), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "TUNING_PORT" in result.stdout and "/docs" in result.stdout
    assert not (tmp_path / "data").exists(), "--help must not start the service"


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = tmp_path / "never.db"
        env = server_env(f"sqlite:///{database}", port, TUNING_DATA_DIR=str(tmp_path / "data"))
        result = subprocess.run(
            start_server_args(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stdout + result.stderr
    assert not database.exists(), "no migration runs before the port is known to be free"


def test_startup_names_the_docs_url(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = server_env(database_url, port, TUNING_DATA_DIR=str(tmp_path / "data"))
    process = start_server(env, tmp_path)
    try:
        wait_until_healthy(process, port)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"API documentation at http://127.0.0.1:{port}/docs" in output


def start_server_args() -> list[str]:
    import sys

    from tests.support.server import PROJECT_ROOT

    return [sys.executable, str(PROJECT_ROOT / "main.py")]
