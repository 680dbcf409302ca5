"""The de-identification page: the side-by-side test, policy editing and dataset jobs."""

from __future__ import annotations

import json
import re
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.features.ui.conftest import log_in
from tests.support.data import jsonl

ALICE, BOB = bearer(ALICE_KEY), bearer(BOB_KEY)
HTMX = {"HX-Request": "true"}
TEXT = "我是张三, 手机13812345678, 邮箱zhang@example.com"
POLICY = {
    "name": "alice phones",
    "entities": {
        "PHONE": {"operator": "mask", "keep_start": 3, "keep_end": 4},
        "PERSON": {"operator": "replace"},
    },
    "dictionary": {"PERSON": ["张三"]},
}


def create_policy(client: TestClient, body: dict = POLICY, headers: dict = ALICE) -> str:
    response = client.post("/v1/deid/policies", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload_dataset(client: TestClient, name: str = "chats", headers: dict = ALICE) -> str:
    dataset_id = client.post("/v1/datasets", json={"name": name}, headers=headers).json()["id"]
    record = {
        "messages": [{"role": "user", "content": "call 13812345678"}, {"role": "assistant", "content": "ok"}]
    }
    response = client.put(
        f"/v1/datasets/{dataset_id}/files",
        files={"file": ("chats.jsonl", jsonl(record, record))},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dataset_id


def count(client: TestClient, table: type) -> int:
    with client.app.state.store.session_scope(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_the_side_by_side_test_marks_the_entities_found(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    fragment = client.post(
        "/ui/deid/test", data={"text": TEXT, "policy_id": "default", "csrf_token": csrf}, headers=HTMX
    )
    assert fragment.status_code == 200, fragment.text
    html = fragment.text
    assert '<mark class="entity" data-testid="entity" title="PHONE">13812345678</mark>' in html
    assert '<mark class="entity" data-testid="entity" title="EMAIL">zhang@example.com</mark>' in html
    original = re.search(r'data-testid="deid-original"[^>]*>(.*?)</div>', html, re.S)
    result = re.search(r'data-testid="deid-result"[^>]*>(.*?)</div>', html, re.S)
    assert original and result
    assert re.sub(r"<[^>]+>", "", original.group(1)) == TEXT
    # the default policy finds the name as well (PERSON is built in)
    expected = "我是&lt;PERSON_1&gt;, 手机&lt;PHONE_1&gt;, 邮箱&lt;EMAIL_1&gt;"
    assert re.sub(r"<[^>]+>", "", result.group(1)) == expected
    assert 'data-testid="replacement" title="PHONE">&lt;PHONE_1&gt;</mark>' in html
    assert "PHONE: 1" in html and "<html" not in html  # a fragment, not a page

    # alice's own policy, chosen in the form; without htmx the whole page comes back
    policy_id = create_policy(client)
    page = client.post("/ui/deid/test", data={"text": TEXT, "policy_id": policy_id, "csrf_token": csrf})
    assert page.status_code == 200 and "<html" in page.text
    assert 'title="PERSON">张三</mark>' in page.text and "138****5678" in page.text


def test_the_test_needs_the_csrf_token_and_a_visible_policy(client: TestClient) -> None:
    bobs = create_policy(client, headers=BOB)
    csrf = log_in(client, ALICE_KEY)
    refused = client.post("/ui/deid/test", data={"text": TEXT}, headers=HTMX)
    assert refused.status_code == 403 and "13812345678" not in refused.text
    hidden = client.post(
        "/ui/deid/test", data={"text": TEXT, "policy_id": bobs, "csrf_token": csrf}, headers=HTMX
    )
    assert 'data-testid="deid-error"' in hidden.text and "not found" in hidden.text
    assert 'data-testid="entity"' not in hidden.text


def test_the_page_lists_only_the_callers_policies_datasets_and_jobs(client: TestClient) -> None:
    create_policy(client, {**POLICY, "name": "bob secret policy"}, headers=BOB)
    create_policy(client)
    upload_dataset(client, "bob-data", headers=BOB)
    log_in(client, ALICE_KEY)
    page = client.get("/ui/deid")
    assert page.status_code == 200
    for hook in ("deid-test", "deid-policies", "deid-jobs", "deid-jobs-table", "policy-form"):
        assert f'data-testid="{hook}"' in page.text
    assert "alice phones" in page.text and 'data-policy-id="default"' in page.text
    assert "bob secret policy" not in page.text and "bob-data" not in page.text
    # a user may not edit the built-in policy: no edit link, and the editor refuses it
    default_row = re.search(r'data-policy-id="default".*?</tr>', page.text, re.S)
    assert default_row and "edit-policy" not in default_row.group(0)
    assert client.get("/ui/deid?edit=default").status_code == 403


def test_policies_are_created_and_edited_from_the_page(client: TestClient) -> None:
    csrf = log_in(client, ALICE_KEY)
    body = json.dumps(POLICY, ensure_ascii=False)
    response = client.post(
        "/ui/deid/policies", data={"body": body, "csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    policy_id = response.headers["location"].split("edit=")[1].split("#")[0]
    stored = client.get(f"/v1/deid/policies/{policy_id}", headers=ALICE).json()
    assert stored["owner"] == "alice" and stored["dictionary"] == {"PERSON": ["张三"]}

    editor = client.get(f"/ui/deid?edit={policy_id}")
    assert editor.status_code == 200 and f'name="policy_id" value="{policy_id}"' in editor.text
    yaml_body = "name: renamed\nentities:\n  EMAIL: {operator: redact}\n"
    saved = client.post(
        "/ui/deid/policies",
        data={"body": yaml_body, "policy_id": policy_id, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    stored = client.get(f"/v1/deid/policies/{policy_id}", headers=ALICE).json()
    assert stored["name"] == "renamed" and list(stored["entities"]) == ["EMAIL"]

    deleted = client.post(
        f"/ui/deid/policies/{policy_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert client.get(f"/v1/deid/policies/{policy_id}", headers=ALICE).status_code == 404


def test_a_bad_policy_is_explained_on_the_page_and_nothing_is_saved(client: TestClient) -> None:
    from src.storage.tables import DeidPolicy

    csrf = log_in(client, ALICE_KEY)
    client.get("/ui/deid")  # the built-in policy exists from the first start
    before = count(client, DeidPolicy)
    cases = [
        ("name: x\nentities: {FOO: {operator: replace}}\n", "unknown entity types FOO"),
        ("name: x\nentities: {PHONE: {operator: shred}}\n", "entities.PHONE.operator"),
        ('{"name": "x", "entities": ', "not valid JSON or YAML"),
        ("[1, 2]", "must be an object"),
    ]
    for body, message in cases:
        response = client.post("/ui/deid/policies", data={"body": body, "csrf_token": csrf})
        assert response.status_code == 422, body
        assert 'data-testid="policy-errors"' in response.text and message in response.text, body
        assert body.split("\n")[0].replace('"', "&#34;") in response.text  # the text is kept to fix
    assert count(client, DeidPolicy) == before


def test_policy_changes_follow_the_apis_rules(client: TestClient) -> None:
    alices = create_policy(client)
    csrf = log_in(client, ALICE_KEY)
    body = json.dumps(POLICY)
    forged = client.post("/ui/deid/policies", data={"body": body})
    assert forged.status_code == 403
    builtin = client.post(
        "/ui/deid/policies", data={"body": body, "policy_id": "default", "csrf_token": csrf}
    )
    assert builtin.status_code == 403 and "admin key" in builtin.text
    assert client.get("/v1/deid/policies/default", headers=ALICE).json()["name"] == "default"
    assert client.post("/ui/deid/policies/default/delete", data={"csrf_token": csrf}).status_code == 400

    bob = TestClient(client.app)
    bob_csrf = log_in(bob, BOB_KEY)
    assert bob.get(f"/ui/deid?edit={alices}").status_code == 404
    stolen = bob.post("/ui/deid/policies", data={"body": body, "policy_id": alices, "csrf_token": bob_csrf})
    assert stolen.status_code == 404
    assert bob.post(f"/ui/deid/policies/{alices}/delete", data={"csrf_token": bob_csrf}).status_code == 404
    assert client.get(f"/v1/deid/policies/{alices}", headers=ALICE).status_code == 200

    admin = TestClient(client.app)
    admin_csrf = log_in(admin, ADMIN_KEY)
    assert admin.get("/ui/deid?edit=default").status_code == 200
    changed = admin.post(
        "/ui/deid/policies",
        data={"body": body, "policy_id": "default", "csrf_token": admin_csrf},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert client.get("/v1/deid/policies/default", headers=ALICE).json()["name"] == "alice phones"


def test_a_dataset_job_starts_from_the_page_and_shows_its_progress(client: TestClient) -> None:
    from src.storage.tables import DeidJob

    dataset_id = upload_dataset(client)
    csrf = log_in(client, ALICE_KEY)
    assert client.post("/ui/deid/jobs", data={"dataset_id": dataset_id}).status_code == 403
    assert count(client, DeidJob) == 0
    response = client.post(
        "/ui/deid/jobs",
        data={"dataset_id": dataset_id, "policy_id": "default", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    deadline = time.monotonic() + 30
    while True:
        rows = client.get("/ui/deid/jobs/rows", headers=HTMX)
        assert rows.status_code == 200 and rows.text.lstrip().startswith("<tbody")
        if 'data-status="succeeded"' in rows.text:
            break
        assert time.monotonic() < deadline, rows.text
        time.sleep(0.1)
    assert 'aria-valuenow="100.0"' in rows.text and "1/1 files · 2 records" in rows.text
    assert "chats → " in rows.text and "chats-deid" in rows.text and "PHONE 2" in rows.text
    assert "hx-trigger" not in rows.text  # nothing left to poll for
    (job,) = client.get("/ui/deid").text.split('data-testid="deid-job-row"')[1:]
    assert 'data-status="succeeded"' in job

    # another owner sees none of it and cannot start a job on alice's dataset
    bob = TestClient(client.app)
    bob_csrf = log_in(bob, BOB_KEY)
    assert 'data-testid="deid-job-row"' not in bob.get("/ui/deid").text
    refused = bob.post("/ui/deid/jobs", data={"dataset_id": dataset_id, "csrf_token": bob_csrf})
    assert refused.status_code == 404 and 'data-testid="job-errors"' in refused.text
    assert count(client, DeidJob) == 1


def test_a_job_that_cannot_start_is_explained_on_the_page(client: TestClient) -> None:
    from src.storage.tables import DeidJob

    empty = client.post("/v1/datasets", json={"name": "empty"}, headers=ALICE).json()["id"]
    csrf = log_in(client, ALICE_KEY)
    response = client.post("/ui/deid/jobs", data={"dataset_id": empty, "csrf_token": csrf})
    assert response.status_code == 400 and "has no files" in response.text
    bad_seed = client.post("/ui/deid/jobs", data={"dataset_id": empty, "seed": "-3", "csrf_token": csrf})
    assert bad_seed.status_code == 422 and "seed" in bad_seed.text
    assert count(client, DeidJob) == 0
