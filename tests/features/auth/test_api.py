"""API keys: roles, revocation, owner isolation, auth off, the key command."""

from __future__ import annotations

import os
import stat

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.config import AuthSettings
from app.keys import cli
from src.features.auth import service as auth_service
from src.storage.tables import ApiKey
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer


def test_keys_are_stored_as_sha256_digests(client: TestClient, store) -> None:
    with store.session_scope(read_only=True) as session:
        rows = list(session.scalars(select(ApiKey)))
    digests = {row.digest for row in rows}
    assert auth_service.digest_key(ALICE_KEY) in digests
    assert all(len(d) == 64 for d in digests)
    assert not any(ALICE_KEY in (row.digest + row.hint + (row.name or "")) for row in rows)


def test_whoami_reports_owner_and_role(client: TestClient) -> None:
    assert client.get("/v1/me", headers=bearer(ALICE_KEY)).json() == {
        "owner": "alice",
        "role": "user",
        "auth": "api_key",
    }
    assert client.get("/v1/me", headers=bearer(ADMIN_KEY)).json()["role"] == "admin"


def test_invalid_key_is_401(client: TestClient) -> None:
    response = client.get("/v1/me", headers=bearer("test-key-999"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_non_bearer_scheme_is_401(client: TestClient) -> None:
    response = client.get("/v1/me", headers={"Authorization": f"Basic {ALICE_KEY}"})
    assert response.status_code == 401


def test_revoked_key_is_401(client: TestClient, store) -> None:
    assert client.get("/v1/me", headers=bearer(BOB_KEY)).status_code == 200
    with store.session_scope() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.owner == "bob"))
        auth_service.revoke_key(session, key_id=key_id)
    response = client.get("/v1/me", headers=bearer(BOB_KEY))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_user_cannot_create_for_another_owner(client: TestClient) -> None:
    response = client.post("/projects", json={"name": "p1", "owner": "bob"}, headers=bearer(ALICE_KEY))
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    admin = client.post("/projects", json={"name": "p1", "owner": "bob"}, headers=bearer(ADMIN_KEY))
    assert admin.status_code == 201 and admin.json()["owner"] == "bob"


def test_owner_isolation(client: TestClient) -> None:
    assert client.post("/projects", json={"name": "bobs"}, headers=bearer(BOB_KEY)).status_code == 201
    alice = bearer(ALICE_KEY)
    assert client.get("/projects/bobs", headers=alice).status_code == 404
    assert client.patch("/projects/bobs", json={"description": "x"}, headers=alice).status_code == 404
    assert client.delete("/projects/bobs", headers=alice).status_code == 404
    assert client.get("/projects", headers=alice).json()["data"] == []
    assert client.get("/projects?owner=bob", headers=alice).json()["data"] == []
    assert client.get("/projects?after=bobs", headers=alice).status_code == 404
    # the project is untouched and still Bob's
    bobs = client.get("/projects/bobs", headers=bearer(BOB_KEY)).json()
    assert bobs["description"] is None and bobs["owner"] == "bob"
    assert [p["name"] for p in client.get("/projects", headers=bearer(ADMIN_KEY)).json()["data"]] == ["bobs"]


def test_auth_off_serves_as_local_admin(app_factory) -> None:
    client = app_factory(auth=AuthSettings(mode="off"))
    assert client.get("/v1/me").json() == {"owner": "local", "role": "admin", "auth": "off"}
    assert client.post("/projects", json={"name": "anon"}).json()["owner"] == "local"


def test_auth_off_refuses_requests_arriving_on_a_public_address(app_factory) -> None:
    client = app_factory(auth=AuthSettings(mode="off"))
    public = TestClient(client.app, base_url="http://203.0.113.7")
    response = public.get("/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insecure_bind"
    allowed = app_factory(auth=AuthSettings(mode="off", allow_insecure=True))
    assert TestClient(allowed.app, base_url="http://203.0.113.7").get("/v1/me").status_code == 200


def test_first_start_without_keys_writes_an_admin_key_file(app_factory, tmp_path) -> None:
    client = app_factory(auth=AuthSettings(mode="api_key", api_keys=[]))
    key_file = tmp_path / "data" / "admin.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_text().strip()
    assert client.get("/v1/me", headers=bearer(key)).json() == {
        "owner": "admin",
        "role": "admin",
        "auth": "api_key",
    }


def test_no_key_file_when_keys_exist(client: TestClient, tmp_path) -> None:
    assert not (tmp_path / "data" / "admin.key").exists()


def test_key_command_create_list_revoke(client: TestClient, database_url: str, monkeypatch) -> None:
    from app.config import get_settings

    monkeypatch.setenv("TUNING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(cli, ["create", "--owner", "carol", "--role", "user", "--name", "laptop"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[-1]
        assert key.startswith("tsk-")
        assert client.get("/v1/me", headers=bearer(key)).json()["owner"] == "carol"

        listed = runner.invoke(cli, ["list"])
        line = next(row for row in listed.stdout.splitlines() if "\tcarol\t" in row)
        assert key not in listed.stdout
        key_id = line.split("\t")[0]

        assert runner.invoke(cli, ["revoke", key_id]).exit_code == 0
        assert client.get("/v1/me", headers=bearer(key)).status_code == 401
        assert runner.invoke(cli, ["revoke", "999999"]).exit_code == 1
        assert runner.invoke(cli, ["create", "--owner", "bad owner!"]).exit_code == 1

        tinker = runner.invoke(cli, ["create", "--owner", "carol", "--tinker"])
        tinker_key = tinker.stdout.strip().splitlines()[-1]
        assert tinker_key.startswith("tml-") and len(tinker_key) > 40
        session = client.post("/api/v1/create_session", json={"tags": []}, headers={"X-API-Key": tinker_key})
        assert session.status_code == 200, session.text
    finally:
        get_settings.cache_clear()


def test_key_management_needs_an_admin(client: TestClient) -> None:
    for method, path in (("get", "/v1/keys"), ("post", "/v1/keys"), ("delete", "/v1/keys/1")):
        kwargs = {"json": {"owner": "x"}} if method == "post" else {}
        response = getattr(client, method)(path, headers=bearer(ALICE_KEY), **kwargs)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["type"] == "permission_error"


def test_admin_creates_lists_and_revokes_keys_over_http(client: TestClient) -> None:
    admin = bearer(ADMIN_KEY)
    created = client.post("/v1/keys", json={"owner": "dora", "name": "ci"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "user" and body["hint"] == "..." + body["key"][-4:]
    assert client.get("/v1/me", headers=bearer(body["key"])).json()["owner"] == "dora"

    first = client.get("/v1/keys?limit=2", headers=admin).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    assert all("key" not in row for row in first["data"])
    rest = client.get(f"/v1/keys?after={first['data'][-1]['id']}", headers=admin).json()
    assert [r["owner"] for r in first["data"] + rest["data"]] == ["root", "alice", "bob", "dora"]

    revoked = client.delete(f"/v1/keys/{body['id']}", headers=admin).json()
    assert revoked["revoked_at"] is not None
    assert client.get("/v1/me", headers=bearer(body["key"])).status_code == 401
    assert len(client.get("/v1/keys", headers=admin).json()["data"]) == 3
    assert len(client.get("/v1/keys?include_revoked=true", headers=admin).json()["data"]) == 4
    assert client.delete("/v1/keys/999999", headers=admin).status_code == 404
    own_id = next(
        r["id"] for r in client.get("/v1/keys", headers=admin).json()["data"] if r["owner"] == "root"
    )
    refused = client.delete(f"/v1/keys/{own_id}", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "self_revoke"
    assert client.get("/v1/me", headers=admin).status_code == 200
