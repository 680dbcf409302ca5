"""Parsers and validators (issue 12): hostile input is a 4xx that says why, never a 500."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ALICE_KEY, BOB_KEY, bearer
from tests.support.rows import add_run

ALICE = bearer(ALICE_KEY)
BOB = bearer(BOB_KEY)


def post_config(client: TestClient, content: bytes, name: str = "c.yaml"):
    return client.post("/v1/train-configs", files={"file": (name, content)}, headers=ALICE)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"seed: " + b"7" * 4301 + b"\n", "the integer at line 1, column 7 is too long"),
        (b"learning_rate: " + b"9" * 400 + b"\n", "does not fit in 64 bits"),
        (
            b"stage: sft\nlora_rank: 0b" + b"1" * 15000 + b"\n",
            "the integer at line 2, column 12 does not fit",
        ),
    ],
    ids=["4301-digits", "400-digits", "15000-bits"],
)
def test_huge_yaml_integers_are_400(client: TestClient, content: bytes, message: str) -> None:
    response = post_config(client, content)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_a_large_plain_yaml_is_judged_fast_and_truly(client: TestClient) -> None:
    lines = b"".join(f"key_{i}: {i}\n".encode() for i in range(100_000))
    content = lines[: lines.rfind(b"\n", 0, 1024**2) + 1]  # 1 MiB, no aliases
    started = time.monotonic()
    response = post_config(client, content)
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "more than 10000 keys, values and list items" in message and "alias" not in message
    assert elapsed < 3, f"took {elapsed:.1f}s"


def test_deep_yaml_and_alias_bombs_say_what_they_hit(client: TestClient) -> None:
    deep = post_config(client, b"x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert deep.status_code == 400
    assert "nested more than 100 levels deep" in deep.json()["error"]["message"]

    levels = [b'a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    levels += [
        f"{c}: &{c} [{','.join([f'*{p}'] * 10)}]".encode() for p, c in zip("abcde", "bcdef", strict=True)
    ]
    bomb = post_config(client, b"\n".join(levels) + b"\n")
    assert bomb.status_code == 400
    assert "expands to more than 100000 nodes through aliases" in bomb.json()["error"]["message"]


def finished_run(client: TestClient) -> str:
    assert client.post("/projects", json={"name": "sse-demo"}, headers=ALICE).status_code == 201
    return add_run(client.app.state.store, project="sse-demo", status="succeeded")


def test_an_out_of_range_last_event_id_is_400_before_the_stream(client: TestClient) -> None:
    run_id = finished_run(client)
    response = client.get(
        f"/runs/{run_id}/logs/stream", headers={**ALICE, "Last-Event-ID": "99999999999999999999"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_last_event_id"


def _dataset(client: TestClient) -> str:
    response = client.post("/v1/datasets", json={"name": "plain"}, headers=ALICE)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _project(client: TestClient) -> str:
    assert client.post("/projects", json={"name": "plain"}, headers=ALICE).status_code == 201
    return "plain"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/datasets", {"name": "©\n"}),
        ("PATCH", "/v1/datasets/{dataset}", {"name": "©\n"}),
        ("POST", "/projects", {"name": "demo\n"}),
        ("PATCH", "/projects/{project}", {"tags": ["ok\n"]}),
        ("POST", "/v1/deid/policies", {"name": "mine\n", "entities": {"PHONE": {"operator": "mask"}}}),
        (
            "PUT",
            "/v1/deid/policies/{policy}",
            {"name": "mine\n", "entities": {"PHONE": {"operator": "mask"}}},
        ),
    ],
)
def test_a_trailing_newline_does_not_pass_a_name_pattern(
    client: TestClient, method: str, path: str, body: dict
) -> None:
    """Python's `$` matches before a final newline; the schema's (ECMA) `$` does not, nor may we."""
    ids = {}
    if "{dataset}" in path:
        ids["dataset"] = _dataset(client)
    if "{project}" in path:
        ids["project"] = _project(client)
    if "{policy}" in path:
        created = client.post("/v1/deid/policies", json={**body, "name": "mine"}, headers=ALICE)
        assert created.status_code == 201, created.text
        ids["policy"] = created.json()["id"]
    response = client.request(method, path.format(**ids), json=body, headers=ALICE)
    assert response.status_code == 422, response.text


def test_a_taken_project_name_names_no_owner(client: TestClient) -> None:
    assert client.post("/projects", json={"name": "bobs-secret-plan"}, headers=BOB).status_code == 201
    assert client.post("/projects", json={"name": "alices-own"}, headers=ALICE).status_code == 201

    other = client.post("/projects", json={"name": "bobs-secret-plan"}, headers=ALICE)
    assert other.status_code == 409
    error = other.json()["error"]
    assert error == {
        "type": "conflict_error",
        "message": "the project name 'bobs-secret-plan' is taken; choose another",
        "code": "name_taken",
        "param": "name",
    }
    assert "bob" not in json.dumps(error).replace("bobs-secret-plan", "")

    # the caller's own name gets the same words, so the answer does not tell whose it is
    own = client.post("/projects", json={"name": "alices-own"}, headers=ALICE).json()["error"]
    assert own["message"].replace("alices-own", "bobs-secret-plan") == error["message"]
