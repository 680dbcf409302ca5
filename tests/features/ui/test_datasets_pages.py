"""The dashboard's dataset pages: the list, the upload with its progress bar, the report by line."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from src.features.datasets.formats import OPENAI_CHAT
from tests.conftest import ALICE_KEY, BOB_KEY, bearer
from tests.features.ui.conftest import log_in
from tests.support.data import OPENAI, jsonl

ALICE = bearer(ALICE_KEY)


class Browser(TestClient):
    """A client of the app with a dashboard session of its own, and the CSRF token of its pages."""

    csrf: str = ""


def browser_of(client: TestClient, key: str) -> Browser:
    browser = Browser(client.app)
    browser.csrf = log_in(browser, key)
    return browser


def upload(browser: Browser, name: str, content: bytes, *, query: str = "", csrf: bool = True):
    headers = {"X-CSRF-Token": browser.csrf} if csrf else {}
    return browser.post(f"/ui/datasets/upload{query}", files={"file": (name, content)}, headers=headers)


def dataset_ids(client: TestClient) -> list[str]:
    return [d["id"] for d in client.get("/v1/datasets", headers=ALICE).json()["data"]]


def test_upload_creates_a_dataset_and_its_page_reports_lines(client: TestClient) -> None:
    alice = browser_of(client, ALICE_KEY)
    listing = alice.get("/ui/datasets")
    assert 'data-testid="upload-progress"' in listing.text and "/static/ui/datasets.js" in listing.text
    assert 'data-testid="datasets-empty"' in listing.text

    answer = upload(alice, "chats.jsonl", jsonl(OPENAI, "{bad json", OPENAI, {"messages": []}, OPENAI))
    assert answer.status_code == 201, answer.text
    dataset_id = answer.json()["dataset_id"]
    assert answer.json()["url"] == f"/ui/datasets/{dataset_id}" and dataset_ids(client) == [dataset_id]

    shown = alice.get(answer.json()["url"])
    assert shown.status_code == 200
    assert '<h1 data-testid="dataset-name">chats.jsonl</h1>' in shown.text  # named after its file
    assert 'data-testid="file-valid">3<' in shown.text and 'data-testid="file-invalid">2<' in shown.text
    assert f'data-testid="file-format">{OPENAI_CHAT}<' in shown.text and "partial" in shown.text
    links = re.findall(r'href="(/ui/datasets/[^"]+)" data-testid="report-line-link">line (\d+)<', shown.text)
    assert [line for _href, line in links] == ["2", "4"]
    assert links[0][0] == f"/ui/datasets/{dataset_id}?line=2#line-2"
    # the preview starts at the first line; every line carries its anchor
    assert re.findall(r'id="line-(\d+)"', shown.text) == ["1", "2", "3", "4", "5"]
    assert "preview-current" not in shown.text

    at_line = alice.get(f"/ui/datasets/{dataset_id}?line=4")
    current = re.search(r'<div id="line-4"[^>]*class="current problem"[^>]*>(.*?)</div>', at_line.text, re.S)
    assert current is not None
    assert 'data-testid="preview-current">{&#34;messages&#34;: []}</mark>' in current.group(1)
    assert "must be a non-empty list" in current.group(1)  # the report's reason beside the line

    listing = alice.get("/ui/datasets")
    rows = re.findall(r'data-testid="dataset-row" data-dataset-id="([^"]+)"', listing.text)
    assert rows == [dataset_id]


def test_upload_named_and_around_a_far_line(client: TestClient) -> None:
    alice = browser_of(client, ALICE_KEY)
    records = [OPENAI] * 59 + ["{not json"]
    answer = upload(alice, "many.jsonl", jsonl(*records), query="?name=support%20chats")
    assert answer.status_code == 201, answer.text
    shown = alice.get(f"{answer.json()['url']}?line=60")
    assert '<h1 data-testid="dataset-name">support chats</h1>' in shown.text
    assert re.findall(r'id="line-(\d+)"', shown.text) == [str(n) for n in range(55, 61)]
    assert 'href="/ui/datasets/{}?line=40"'.format(answer.json()["dataset_id"]) in shown.text  # earlier lines


def test_upload_without_the_csrf_header_is_refused_and_creates_nothing(client: TestClient) -> None:
    alice = browser_of(client, ALICE_KEY)
    refused = upload(alice, "chats.jsonl", jsonl(OPENAI), csrf=False)
    assert refused.status_code == 403 and 'data-testid="error-page"' in refused.text
    # the token as a form field is not enough: the body is a file that is never parsed as a form
    as_field = alice.post(
        "/ui/datasets/upload",
        data={"csrf_token": alice.csrf},
        files={"file": ("chats.jsonl", jsonl(OPENAI))},
    )
    assert as_field.status_code == 403
    wrong = alice.post(
        "/ui/datasets/upload", files={"file": ("a.jsonl", jsonl(OPENAI))}, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    logged_out = TestClient(client.app).post("/ui/datasets/upload", files={"file": ("a.jsonl", b"{}")})
    assert logged_out.status_code == 401
    assert dataset_ids(client) == []


def test_a_refused_file_leaves_no_dataset(client: TestClient) -> None:
    alice = browser_of(client, ALICE_KEY)
    refused = upload(alice, "notes.txt", b"hello")
    assert refused.status_code == 400 and ".jsonl" in refused.text
    bad_name = upload(alice, "a.jsonl", jsonl(OPENAI), query="?name=a/b")
    assert bad_name.status_code == 400
    assert dataset_ids(client) == []


def test_another_owners_dataset_is_a_404_page(client: TestClient) -> None:
    bob = browser_of(client, BOB_KEY)
    bobs = upload(bob, "bob.jsonl", jsonl(OPENAI)).json()["dataset_id"]
    alice = browser_of(client, ALICE_KEY)
    page = alice.get(f"/ui/datasets/{bobs}?line=1")
    assert page.status_code == 404 and 'data-testid="error-page"' in page.text
    assert "bob.jsonl" not in page.text
    assert bobs not in alice.get("/ui/datasets").text
    assert alice.get("/ui/datasets/not-an-id").status_code in (400, 404)
