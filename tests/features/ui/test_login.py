"""The dashboard's login: a key traded for an HttpOnly, SameSite=Strict cookie, CSRF on changes."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.config import AuthSettings
from tests.conftest import ADMIN_KEY, ALICE_KEY, bearer
from tests.features.ui.conftest import log_in


def test_pages_send_a_visitor_without_a_session_to_the_login_page(client: TestClient) -> None:
    response = client.get("/ui/runs?status=failed", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/runs"
    # an htmx fragment request is told to move the whole page, not given a login form to swap in
    fragment = client.get("/ui/fragments/runs", headers={"HX-Request": "true"}, follow_redirects=False)
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"].startswith("/ui/login")


def test_login_sets_a_strict_http_only_cookie_and_the_key_appears_nowhere(client: TestClient) -> None:
    response = client.post("/ui/login", data={"key": ALICE_KEY, "next": "/ui/runs"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/runs"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert ALICE_KEY not in cookie
    for path in ("/ui/", "/ui/runs"):
        page = client.get(path)
        assert page.status_code == 200
        assert ALICE_KEY not in page.text
        assert str(page.url).find(ALICE_KEY) < 0
        assert "alice" in page.text


def test_a_wrong_key_is_a_401_page_and_no_cookie(client: TestClient) -> None:
    response = client.post("/ui/login", data={"key": "tsk-not-a-key", "next": "/ui/"}, follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "invalid API key" in response.text
    assert "tsk-not-a-key" not in response.text


def test_login_goes_back_only_to_dashboard_paths(client: TestClient) -> None:
    for target in (
        "//evil.example/ui/",
        "https://evil.example/",
        "/ui/\\evil",
        "/docs",
        "javascript:alert(1)",
    ):
        response = client.post("/ui/login", data={"key": ALICE_KEY, "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/ui/", target


def test_the_login_form_refuses_a_big_body_before_reading_it(client: TestClient) -> None:
    response = client.post("/ui/login", data={"key": "x" * 10_000})
    assert response.status_code == 413


def test_logout_ends_the_session_even_for_a_kept_cookie(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    kept = client.cookies.get("tuning_ui")
    refused = client.post("/ui/logout", follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token: a cross-site form could not log you out either
    response = client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set("tuning_ui", kept, path="/ui")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(client: TestClient) -> None:
    log_in(client, ALICE_KEY)
    keys = client.get("/v1/keys", headers=bearer(ADMIN_KEY)).json()["data"]
    (key_id,) = [key["id"] for key in keys if key["owner"] == "alice"]
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    revoked = client.delete(f"/v1/keys/{key_id}", headers=bearer(ADMIN_KEY))
    assert revoked.status_code == 200, revoked.text
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_a_change_needs_the_csrf_token_and_this_origin(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    no_token = client.post("/ui/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert "reload it" in no_token.text
    elsewhere = client.post(
        "/ui/logout",
        data={"csrf_token": csrf},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 403
    # still logged in after both refusals
    assert client.get("/ui/", follow_redirects=False).status_code == 200


def test_pages_run_no_inline_script_and_say_so_in_their_policy(client: TestClient) -> None:
    log_in(client, ADMIN_KEY)
    for path in ("/ui/", "/ui/runs", "/ui/compare", "/ui/login"):
        page = client.get(path)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        scripts = re.findall(r"<script([^>]*)>", page.text)
        assert scripts and all('src="/static/' in attributes for attributes in scripts), (path, scripts)
        assert " on" not in " ".join(re.findall(r"<[a-z]+ [^>]*\bon[a-z]+=", page.text)), path


def test_an_unknown_dashboard_path_is_a_404_page(client: TestClient) -> None:
    log_in(client, ALICE_KEY)
    response = client.get("/ui/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="error-page"' in response.text


def test_with_auth_off_the_dashboard_is_the_local_admins_on_loopback_only(app_factory) -> None:
    client = app_factory(auth=AuthSettings(mode="off"))
    response = client.post("/ui/login", data={"next": "/ui/keys"}, follow_redirects=False)
    assert response.status_code == 303
    assert "local · admin" in client.get("/ui/keys").text
    # arriving on a public address, as the API does: refused, and a cookie made on loopback too
    public = TestClient(client.app, base_url="http://203.0.113.7")
    refused = public.post("/ui/login", data={"next": "/ui/"}, follow_redirects=False)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    public.cookies.set("tuning_ui", client.cookies.get("tuning_ui"), path="/ui")
    assert public.get("/ui/keys").status_code == 403
    # and a session made with auth off is worth nothing once auth is on
    keyed = app_factory()
    keyed.cookies.set("tuning_ui", client.cookies.get("tuning_ui"), path="/ui")
    assert keyed.get("/ui/", follow_redirects=False).status_code == 303


def test_logging_in_again_and_again_keeps_only_a_keys_newest_sessions(client: TestClient) -> None:
    from src.features.ui.sessions import MAX_SESSIONS_PER_KEY
    from src.storage.tables import UiSession

    cookies = []
    for _ in range(MAX_SESSIONS_PER_KEY + 5):
        client.cookies.clear()
        response = client.post("/ui/login", data={"key": ALICE_KEY, "next": "/ui/"}, follow_redirects=False)
        assert response.status_code == 303
        cookies.append(client.cookies.get("tuning_ui"))
    with client.app.state.store.session_scope(read_only=True) as session:
        assert session.query(UiSession).count() == MAX_SESSIONS_PER_KEY
    for cookie, live in ((cookies[0], False), (cookies[-1], True)):
        client.cookies.clear()
        client.cookies.set("tuning_ui", cookie, path="/ui")
        assert (client.get("/ui/", follow_redirects=False).status_code == 200) is live
