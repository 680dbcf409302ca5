"""The key cache: a verified key costs no query, a revoked key is refused at once here and soon elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select

from app.config import AuthSettings
from src.features.auth import service as auth_service
from src.features.auth.cache import KeyCache
from src.models.auth import Role
from src.storage.tables import ApiKey
from tests.conftest import ADMIN_KEY, ALICE_KEY, TEST_KEYS, bearer
from tests.support.server import live_server

REVOCATION_BOUND_S = 5.0


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_cached_key_costs_no_sql_statement(client: TestClient) -> None:
    engine = client.app.state.store.engine
    with counted_statements(engine) as first:
        assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 200
    assert any("api_key" in statement for statement in first)
    with counted_statements(engine) as second:
        assert client.get("/v1/me", headers=bearer(ALICE_KEY)).json()["owner"] == "alice"
    assert second == []


def test_the_body_guard_uses_the_cache_too(client: TestClient) -> None:
    assert client.get("/v1/me", headers=bearer(ADMIN_KEY)).status_code == 200
    engine = client.app.state.store.engine
    with counted_statements(engine) as statements:
        response = client.post("/v1/keys", json={"owner": "carol", "role": "user"}, headers=bearer(ADMIN_KEY))
    assert response.status_code == 201
    assert not any("FROM api_key WHERE api_key.digest" in s for s in statements)


def test_an_unknown_key_is_never_cached_and_a_new_key_works_at_once(client: TestClient) -> None:
    admin = bearer(ADMIN_KEY)
    created = client.post("/v1/keys", json={"owner": "dave", "role": "user"}, headers=admin).json()
    assert client.get("/v1/me", headers=bearer(created["key"])).json()["owner"] == "dave"
    assert client.get("/v1/me", headers=bearer("tsk-not-a-key")).status_code == 401
    assert len(client.app.state.key_cache) == 2  # the admin's and dave's, never the unknown one


def test_a_key_revoked_here_is_refused_on_the_next_request(client: TestClient) -> None:
    admin = bearer(ADMIN_KEY)
    created = client.post("/v1/keys", json={"owner": "erin", "role": "user"}, headers=admin).json()
    assert client.get("/v1/me", headers=bearer(created["key"])).status_code == 200
    assert client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 200
    response = client.get("/v1/me", headers=bearer(created["key"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_a_lookup_that_raced_a_revocation_is_not_remembered() -> None:
    cache = KeyCache(ttl=60)
    principal = auth_service.Principal(owner="alice", role=Role.user, key_id=1)
    generation = cache.generation  # a lookup begins and reads the row, still valid
    cache.forget("digest")  # the key is revoked meanwhile
    cache.remember("digest", principal, generation=generation)
    assert cache.get("digest") is None
    cache.remember("digest", principal, generation=cache.generation)
    assert cache.get("digest") == principal


def test_entries_expire_after_the_ttl_and_zero_turns_the_cache_off() -> None:
    principal = auth_service.Principal(owner="alice", role=Role.user, key_id=1)
    short = KeyCache(ttl=0.05)
    short.remember("digest", principal, generation=short.generation)
    assert short.get("digest") == principal
    time.sleep(0.1)
    assert short.get("digest") is None
    off = KeyCache(ttl=0)
    off.remember("digest", principal, generation=off.generation)
    assert off.get("digest") is None


def test_the_ttl_is_a_setting(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(auth=AuthSettings(mode="api_key", api_keys=TEST_KEYS, key_cache_seconds=0))
    assert client.app.state.key_cache.ttl == 0
    engine = client.app.state.store.engine
    client.get("/v1/me", headers=bearer(ALICE_KEY))
    with counted_statements(engine) as statements:
        assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 200
    assert statements  # every request asks the store
    assert AuthSettings().key_cache_seconds == REVOCATION_BOUND_S


def test_another_process_refuses_a_revoked_key_within_the_bound(database_url: str, tmp_path: Path) -> None:
    admin = bearer(ADMIN_KEY)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        live_server(database_url, tmp_path / "a") as server_a,
        live_server(database_url, tmp_path / "b") as server_b,
        httpx.Client(timeout=10) as http,
    ):
        created = http.post(f"{server_a}/v1/keys", json={"owner": "frank", "role": "user"}, headers=admin)
        assert created.status_code == 201
        key, key_id = created.json()["key"], created.json()["id"]
        for server in (server_a, server_b):  # both processes now hold the key in their caches
            assert http.get(f"{server}/v1/me", headers=bearer(key)).status_code == 200
            assert http.get(f"{server}/v1/me", headers=bearer(key)).status_code == 200

        assert http.delete(f"{server_a}/v1/keys/{key_id}", headers=admin).status_code == 200
        revoked_at = time.monotonic()
        assert http.get(f"{server_a}/v1/me", headers=bearer(key)).status_code == 401

        while http.get(f"{server_b}/v1/me", headers=bearer(key)).status_code == 200:
            assert time.monotonic() - revoked_at <= REVOCATION_BOUND_S, "process B still accepts the key"
            time.sleep(0.05)
        assert time.monotonic() - revoked_at <= REVOCATION_BOUND_S + 0.5
        assert http.get(f"{server_a}/v1/me", headers=bearer(key)).status_code == 401


def test_revoking_through_the_service_reaches_the_cache_after_commit(client: TestClient, store) -> None:
    assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 200
    with store.session_scope() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.owner == "alice"))
        auth_service.revoke_key(session, key_id=key_id)
        # not committed yet: a lookup now reads the old row, and must not be remembered
        with store.session_scope(read_only=True) as other:
            auth_service.authenticate(other, token=ALICE_KEY, cache=client.app.state.key_cache)
    assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 401
