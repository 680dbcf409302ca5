"""Every error leaves the server as the envelope, with the right status and type."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, bearer


def assert_envelope(response, status: int, error_type: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "code", "param"}
    assert body["error"]["type"] == error_type
    assert body["error"]["message"]
    return body["error"]


def test_unknown_route_is_404_envelope(client: TestClient) -> None:
    error = assert_envelope(client.get("/no/such/route"), 404, "not_found_error")
    assert error["code"] == "route_not_found"


def test_wrong_method_is_405_envelope_listing_every_method(client: TestClient) -> None:
    response = client.put("/projects/some-name")
    error = assert_envelope(response, 405, "invalid_request_error")
    assert error["code"] == "method_not_allowed"
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def test_missing_key_is_401_envelope(client: TestClient) -> None:
    response = client.get("/projects")
    error = assert_envelope(response, 401, "authentication_error")
    assert error["code"] == "missing_api_key"
    assert response.headers["www-authenticate"] == "Bearer"


def test_validation_error_names_the_field(client: TestClient) -> None:
    response = client.post("/projects", json={"name": "ok-name", "colour": "red"}, headers=bearer(ALICE_KEY))
    error = assert_envelope(response, 422, "invalid_request_error")
    assert error["param"] == "colour"
    assert "colour" in error["message"]


def test_wrong_type_is_422_with_param(client: TestClient) -> None:
    response = client.post(
        "/projects", json={"name": "ok-name", "tags": "not-a-list"}, headers=bearer(ALICE_KEY)
    )
    error = assert_envelope(response, 422, "invalid_request_error")
    assert error["param"] == "tags"


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        "/projects",
        content=b'{"name": ',
        headers={**bearer(ALICE_KEY), "content-type": "application/json"},
    )
    assert_envelope(response, 422, "invalid_request_error")


def test_conflict_is_409_envelope(client: TestClient) -> None:
    client.post("/projects", json={"name": "twice"}, headers=bearer(ALICE_KEY))
    error = assert_envelope(
        client.post("/projects", json={"name": "twice"}, headers=bearer(ALICE_KEY)), 409, "conflict_error"
    )
    assert error["param"] == "name"


def test_unexpected_exception_is_500_envelope_without_stack(app_factory, caplog) -> None:
    client = app_factory()
    secret = f"boom-{uuid.uuid4().hex}"

    @client.app.get("/crash-for-test")
    def crash() -> None:
        raise RuntimeError(secret)

    response = client.get("/crash-for-test", headers={"X-Request-ID": "req-crash-1"})
    error = assert_envelope(response, 500, "server_error")
    assert secret not in response.text
    assert "Traceback" not in response.text
    assert "req-crash-1" in error["message"]
    assert response.headers["x-request-id"] == "req-crash-1"
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged and getattr(logged[-1], "request_id", None) == "req-crash-1"


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_request_id_is_generated_when_absent_or_unsafe(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert unsafe != "bad id\twith spaces" and len(unsafe) == 32
