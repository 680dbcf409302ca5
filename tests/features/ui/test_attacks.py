"""What an attack review of the dashboard found, kept as tests: login CSRF, a followed log that
outlived its session, previews that read a whole file, and NUL bytes that PostgreSQL refuses."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.factory import create_app
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer, clear_tables, make_settings
from tests.features.ui.conftest import log_in
from tests.support.server import free_port
from tests.support.training import make_training_dir, training_settings


def test_login_from_another_site_is_refused(client: TestClient) -> None:
    """Another site's auto-submitted form must not log the visitor in as the attacker's key."""
    response = client.post(
        "/ui/login",
        data={"key": BOB_KEY, "next": "/ui/datasets"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    same_site = client.post(
        "/ui/login",
        data={"key": BOB_KEY, "next": "/ui/"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same_site.status_code == 303 and "tuning_ui=" in same_site.headers["set-cookie"]


def _upload(client: TestClient, csrf: str, name: str, body: bytes) -> str:
    response = client.post(
        f"/ui/datasets/upload?name={name.split('.')[0]}",
        files={"file": (name, body, "application/octet-stream")},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, response.text[:300]
    dataset_id = response.json()["dataset_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = client.get(f"/v1/datasets/{dataset_id}", headers=bearer(ALICE_KEY)).json()["files"]
        if all(f["status"] != "validating" for f in files):
            return response.json()["url"]
        time.sleep(0.1)
    raise AssertionError("validation did not end")


def _peak_of(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_preview_of_one_huge_line_reads_a_bounded_part_of_it(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    url = _upload(client, csrf, "big.jsonl", b'{"messages": "' + b"x" * (32 * 2**20) + b'"}')
    peak = _peak_of(lambda: client.get(url + "?line=1").raise_for_status())
    assert peak < 8 * 2**20, f"one preview allocated {peak / 2**20:.1f} MiB"


def test_a_preview_of_a_big_json_array_does_not_parse_it_all(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    record = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    url = _upload(client, csrf, "arr.json", json.dumps([record] * 200_000).encode())
    peak = _peak_of(lambda: client.get(url).raise_for_status())
    assert peak < 8 * 2**20, f"one page view allocated {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "url", ["/ui/runs?q=a%00b", "/ui/runs?project=a%00b", "/ui/fragments/runs?q=%00", "/ui/runs?owner=%00"]
)
def test_a_nul_in_a_filter_is_a_400_page(client: TestClient, url: str) -> None:
    log_in(client, ADMIN_KEY)  # an admin: the owner filter applies too
    assert client.get(url).status_code == 400


def test_a_nul_in_a_policy_description_or_key_name_is_refused(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    body = '{"name": "p", "description": "a\\u0000b", "entities": {"EMAIL": {"operator": "replace"}}}'
    page = client.post("/ui/deid/policies", data={"csrf_token": csrf, "body": body}, follow_redirects=False)
    assert page.status_code == 422
    policy = {"name": "p", "description": "a\u0000b", "entities": {"EMAIL": {"operator": "replace"}}}
    assert client.post("/v1/deid/policies", json=policy, headers=bearer(ALICE_KEY)).status_code == 422
    key = {"owner": "carol", "name": "a\u0000b"}
    assert client.post("/v1/keys", json=key, headers=bearer(ADMIN_KEY)).status_code == 422


def test_a_followed_log_ends_when_its_key_is_revoked(database_url: str, tmp_path) -> None:
    """The stream re-reads its session: a revoked key gets no line written after the revocation.

    A real server (the TestClient buffers a whole response); the run stays pending (no scheduler).
    """
    training = training_settings(make_training_dir(tmp_path / "training"), scheduler=False)
    app = create_app(make_settings(database_url, tmp_path / "data", training=training))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{server.config.port}"
        api = httpx.Client(base_url=base, timeout=10)
        project = {
            "name": "demo",
            "dataset_name": "data/train.jsonl",
            "training_yaml_name": "configs/sft.yaml",
        }
        assert api.post("/projects", json=project, headers=bearer(ALICE_KEY)).status_code == 201
        run_id = api.post("/projects/demo/runs", json={}, headers=bearer(ALICE_KEY)).json()["id"]
        keys = api.get("/v1/keys", headers=bearer(ADMIN_KEY)).json()["data"]
        alice_key_id = next(key["id"] for key in keys if key["owner"] == "alice")

        browser = httpx.Client(base_url=base, timeout=10)
        assert browser.post("/ui/login", data={"key": ALICE_KEY, "next": "/ui/"}).status_code == 303
        received: list[str] = []
        ended = threading.Event()

        def follow() -> None:
            with browser.stream("GET", f"/ui/runs/{run_id}/logs/stream", timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        received.append(json.loads(line[5:]).get("line", "<end>"))
            ended.set()

        threading.Thread(target=follow, daemon=True).start()
        api.post(f"/runs/{run_id}/logs", json={"line": "before"}, headers=bearer(ADMIN_KEY))
        deadline = time.monotonic() + 10
        while "before" not in received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == ["before"], "the stream follows while the session lives"
        assert api.delete(f"/v1/keys/{alice_key_id}", headers=bearer(ADMIN_KEY)).status_code == 200
        api.post(f"/runs/{run_id}/logs", json={"line": "after the revocation"}, headers=bearer(ADMIN_KEY))
        assert ended.wait(10), "the stream ends once its session is over"
        assert "after the revocation" not in received
    finally:
        server.should_exit = True
        thread.join(10)
        clear_tables(app.state.store)  # the revoked key and the run go with the rest
