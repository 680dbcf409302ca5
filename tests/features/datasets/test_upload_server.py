"""Uploads against the real server process: a client that disconnects, an upload aborted mid-way."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.data import big_jsonl
from tests.support.server import live_server

pytestmark = pytest.mark.slow
KEY = "test-admin-key-000"
BOUNDARY = "----tuningtestboundary"


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[tuple[str, Path]]:
    with live_server(database_url, tmp_path) as base:
        yield base, tmp_path / "data"


def api(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def open_slow_upload(base: str, dataset_id: str, content: bytes) -> tuple[socket.socket, bytes]:
    """Start a PUT upload on a raw socket; returns the socket and the body bytes not yet sent."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="slow.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    request = (
        f"PUT /v1/datasets/{dataset_id}/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    host, port = base.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=30)
    sent = len(body) // 3
    conn.sendall(request + body[:sent])
    return conn, body[sent:]


def read_response(conn: socket.socket) -> tuple[str, bytes]:
    """The status line and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return lines[0], body


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def in_flight(client: httpx.Client, dataset_id: str) -> list[dict]:
    return client.get(f"/v1/datasets/{dataset_id}").json()["upload_progress"]["uploads"]


def temp_files(data_dir: Path) -> list[Path]:
    return list((data_dir / "datasets").glob("*/.upload-*.tmp"))


def test_client_disconnect_mid_body_leaves_nothing(server) -> None:
    base, data_dir = server
    with api(base) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        conn, _rest = open_slow_upload(base, dataset_id, big_jsonl(6 * 1024 * 1024))
        uploads = wait_for(lambda: [u for u in in_flight(client, dataset_id) if u["bytes_received"] > 0])
        assert uploads[0]["filename"] == "slow.jsonl"
        assert client.get("/healthz").status_code == 200  # the server keeps answering during an upload
        assert temp_files(data_dir)
        conn.close()
        wait_for(lambda: not in_flight(client, dataset_id) and not temp_files(data_dir))
        record = client.get(f"/v1/datasets/{dataset_id}").json()
        assert record["files"] == [] and record["status"] == "pending"
        assert [p for p in (data_dir / "datasets").rglob("*") if p.is_file()] == []


def test_abort_an_upload_in_flight(server) -> None:
    base, data_dir = server
    with api(base) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        conn, rest = open_slow_upload(base, dataset_id, big_jsonl(6 * 1024 * 1024))
        [upload] = wait_for(lambda: [u for u in in_flight(client, dataset_id) if u["bytes_received"] > 0])
        aborted = client.delete(f"/v1/uploads/{upload['upload_id']}")
        assert aborted.json() == {"upload_id": upload["upload_id"], "status": "aborted"}
        with contextlib.suppress(OSError):
            conn.sendall(rest)
        status_line, payload = read_response(conn)
        conn.close()
        assert " 400 " in status_line
        assert json.loads(payload)["error"]["code"] == "upload_aborted"
        wait_for(lambda: not in_flight(client, dataset_id))
        assert client.get(f"/v1/datasets/{dataset_id}").json()["files"] == []
        assert [p for p in (data_dir / "datasets").rglob("*") if p.is_file()] == []
