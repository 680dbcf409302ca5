"""The keys page: admins only, a new secret shown once, revocation that ends dashboard sessions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import ADMIN_KEY, ALICE_KEY, bearer
from tests.features.ui.conftest import log_in

SECRET = re.compile(r'data-testid="new-secret">([^<]+)<')


def key_id_of(page: str, owner: str) -> int:
    match = re.search(rf'data-key-id="(\d+)" data-owner="{owner}" data-revoked="false"', page)
    assert match, f"an active key of {owner} is listed"
    return int(match.group(1))


def key_count(client: TestClient) -> int:
    from src.storage.tables import ApiKey

    with client.app.state.store.session_scope(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(ApiKey)) or 0


def test_admin_sees_every_key_without_secrets(client: TestClient) -> None:
    log_in(client, ADMIN_KEY)
    page = client.get("/ui/keys")
    assert page.status_code == 200
    assert 'data-testid="keys-table"' in page.text
    for owner in ("root", "alice", "bob"):
        assert f'data-owner="{owner}"' in page.text
    assert "...-001" in page.text  # alice's hint
    for secret in (ADMIN_KEY, ALICE_KEY):
        assert secret not in page.text
    # the admin's own key has no revoke button: the API refuses a key revoking itself
    own = key_id_of(page.text, "root")
    row = re.search(rf'data-key-id="{own}".*?</tr>', page.text, re.S)
    assert row and "revoke-key" not in row.group(0) and "the key in use" in row.group(0)


def test_a_new_key_is_shown_once_and_works(client: TestClient) -> None:
    csrf = log_in(client, ADMIN_KEY)
    response = client.post(
        "/ui/keys", data={"owner": "carol", "role": "user", "name": "laptop", "csrf_token": csrf}
    )
    assert response.status_code == 200, response.text
    assert "cache-control" in response.headers and "no-store" in response.headers["cache-control"]
    match = SECRET.search(response.text)
    assert match, "the secret is on the answer"
    secret = match.group(1)
    assert secret.startswith("tsk-") and secret not in str(response.url)
    me = client.get("/v1/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json()["owner"] == "carol"

    again = client.get("/ui/keys")
    assert secret not in again.text and 'data-testid="new-secret"' not in again.text
    assert 'data-owner="carol"' in again.text and "laptop" in again.text


def test_an_invalid_owner_is_explained_and_creates_nothing(client: TestClient) -> None:
    csrf = log_in(client, ADMIN_KEY)
    before = key_count(client)
    response = client.post("/ui/keys", data={"owner": "not a name!", "role": "user", "csrf_token": csrf})
    assert response.status_code == 422
    assert 'data-testid="form-errors"' in response.text and "owner" in response.text
    assert key_count(client) == before


def test_changes_without_the_csrf_token_are_refused(client: TestClient) -> None:
    log_in(client, ADMIN_KEY)
    before = key_count(client)
    created = client.post("/ui/keys", data={"owner": "mallory", "role": "admin"})
    assert created.status_code == 403 and "new-secret" not in created.text
    assert key_count(client) == before
    alice_id = key_id_of(client.get("/ui/keys").text, "alice")
    revoked = client.post(f"/ui/keys/{alice_id}/revoke", data={"csrf_token": "forged"})
    assert revoked.status_code == 403
    assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 200


def test_a_user_key_cannot_see_or_use_the_keys_page(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    assert 'href="/ui/keys"' not in client.get("/ui/").text
    page = client.get("/ui/keys")
    assert page.status_code == 403 and 'data-testid="error-page"' in page.text
    assert 'data-testid="keys-table"' not in page.text
    before = key_count(client)
    created = client.post("/ui/keys", data={"owner": "alice", "role": "admin", "csrf_token": csrf})
    assert created.status_code == 403 and "new-secret" not in created.text
    assert key_count(client) == before
    assert client.post("/ui/keys/1/revoke", data={"csrf_token": csrf}).status_code == 403


def test_an_admin_cannot_revoke_its_own_key(client: TestClient) -> None:
    csrf = log_in(client, ADMIN_KEY)
    own = key_id_of(client.get("/ui/keys").text, "root")
    response = client.post(f"/ui/keys/{own}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 409 and "cannot revoke itself" in response.text
    assert client.get("/v1/me", headers=bearer(ADMIN_KEY)).status_code == 200


def test_revoking_a_key_ends_its_dashboard_session(client: TestClient) -> None:
    alice = TestClient(client.app)  # a second browser on the same service
    log_in(alice, ALICE_KEY)
    assert alice.get("/ui/jobs").status_code == 200

    csrf = log_in(client, ADMIN_KEY)
    alice_id = key_id_of(client.get("/ui/keys").text, "alice")
    response = client.post(f"/ui/keys/{alice_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/keys"
    assert f'data-key-id="{alice_id}" data-owner="alice" data-revoked="true"' in client.get("/ui/keys").text

    after = alice.get("/ui/jobs", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/ui/login")
    assert client.get("/v1/me", headers=bearer(ALICE_KEY)).status_code == 401
