"""The request middleware: one JSON access line and one count per request, by route template."""

from __future__ import annotations

import io
import json
import logging
import re

from fastapi.testclient import TestClient

from app.logging import _json_handler as json_handler
from tests.conftest import ALICE_KEY, bearer


def test_each_request_logs_one_json_line_with_its_fields(client: TestClient) -> None:
    stream = io.StringIO()
    handler = json_handler(logging.StreamHandler(stream))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        client.get("/projects/missing", headers={**bearer(ALICE_KEY), "X-Request-ID": "mw-1"})
        client.get("/healthz", headers={"X-Request-ID": "mw-2"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["name"] == "app.access"]
    assert [line["request_id"] for line in access] == ["mw-1", "mw-2"]
    first = access[0]
    assert first["message"] == "request" and first["level"] == "INFO" and first["time"]
    assert (first["method"], first["path"], first["route"], first["status"]) == (
        "GET",
        "/projects/missing",
        "/projects/{name}",
        404,
    )
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert access[1]["route"] == "/healthz" and access[1]["status"] == 200


def test_metrics_count_every_request_under_its_route_template(client: TestClient) -> None:
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/path")
    text = client.get("/metrics").text

    def count(route: str, status: str) -> float:
        labels = f'method="GET",route="{re.escape(route)}",status="{status}"'
        match = re.search(rf"tuning_http_requests_total\{{{labels}\}} (\S+)", text)
        return float(match.group(1)) if match else 0.0

    assert count("/healthz", "200") == 3
    assert count("unmatched", "404") == 1
    assert 'tuning_http_request_duration_seconds_count{method="GET",route="/healthz"} 3.0' in text
