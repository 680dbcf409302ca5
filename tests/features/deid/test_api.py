"""De-identification through HTTP: the test call, policies, dataset jobs and sealed mappings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import DeidSettings
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.support.data import jsonl

ADMIN, ALICE, BOB = bearer(ADMIN_KEY), bearer(ALICE_KEY), bearer(BOB_KEY)

PHONE_POLICY = {
    "name": "phones and people",
    "entities": {
        "PHONE": {"operator": "pseudonymize"},
        "EMAIL": {"operator": "mask"},
        "ID_CARD": {"operator": "replace"},
        "PERSON": {"operator": "replace"},
    },
    "allow_list": ["support@corp.example"],
    "dictionary": {"PERSON": ["张三", "Alice Smith"]},
}


def deid_test(client: TestClient, texts: list[str], headers: dict = ALICE, **fields) -> dict:
    response = client.post("/v1/deidentify:test", json={"text": texts, **fields}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def create_policy(client: TestClient, body: dict = PHONE_POLICY, headers: dict = ALICE) -> str:
    response = client.post("/v1/deid/policies", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_default_policy_replaces_every_builtin_type(client: TestClient) -> None:
    body = deid_test(client, ["我是张三，手机13812345678，邮箱zhang@example.com", "again 138-1234-5678"])
    first, second = body["results"]
    assert first["text"] == "我是<PERSON_1>，手机<PHONE_1>，邮箱<EMAIL_1>"
    assert second["text"] == "again <PHONE_1>"  # the same value, the same replacement
    assert first["entities"] == [
        {"type": "PERSON", "start": 2, "end": 4, "replacement": "<PERSON_1>"},
        {"type": "PHONE", "start": 7, "end": 18, "replacement": "<PHONE_1>"},
        {"type": "EMAIL", "start": 21, "end": 38, "replacement": "<EMAIL_1>"},
    ]
    assert body["counts"] == {"PERSON": 1, "PHONE": 2, "EMAIL": 1}
    assert body["mapping"] is None and body["policy_id"] == "default"


def test_mapping_only_for_admin_keys(client: TestClient) -> None:
    body = deid_test(client, ["tel 13812345678"], headers=ADMIN, options={"return_mapping": True})
    assert body["mapping"] == {"<PHONE_1>": "13812345678"}
    response = client.post(
        "/v1/deidentify:test",
        json={"text": ["tel 13812345678"], "options": {"return_mapping": True}},
        headers=ALICE,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mapping_not_allowed"


def test_custom_policy_operators_dictionary_and_allow_list(client: TestClient) -> None:
    policy_id = create_policy(client)
    texts = [
        "张三 13812345678 support@corp.example alice@corp.example Alice Smith 11010519491231002X 10.0.0.1"
    ]
    out = deid_test(client, texts, policy_id=policy_id, options={"seed": 9})["results"][0]
    words = out["text"].split(" ")
    assert words[0] == "<PERSON_1>"
    assert words[1] != "13812345678" and len(words[1]) == 11 and words[1][0] == "1"
    assert words[2] == "support@corp.example"  # allow-listed
    assert words[3] == "a****@corp.example"
    assert out["text"].endswith("<PERSON_2> <ID_CARD_1> 10.0.0.1")  # IP_ADDRESS is not in this policy


def test_same_seed_same_pseudonyms_over_http(client: TestClient) -> None:
    policy_id = create_policy(client)
    texts = ["13812345678", "13912345678"]

    def run(seed: int) -> list[str]:
        results = deid_test(client, texts, policy_id=policy_id, options={"seed": seed})["results"]
        return [r["text"] for r in results]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_policy_crud_and_ownership(client: TestClient) -> None:
    policy_id = create_policy(client)
    listed = client.get("/v1/deid/policies", headers=ALICE).json()["data"]
    assert [p["id"] for p in listed] == ["default", policy_id]
    assert listed[0]["builtin"] and not listed[1]["builtin"]
    assert "secret" not in listed[1]
    assert [p["id"] for p in client.get("/v1/deid/policies", headers=BOB).json()["data"]] == ["default"]
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(
            method,
            f"/v1/deid/policies/{policy_id}",
            json=PHONE_POLICY if method == "PUT" else None,
            headers=BOB,
        )
        assert response.status_code == 404, method
    response = client.post("/v1/deidentify:test", json={"text": ["x"], "policy_id": policy_id}, headers=BOB)
    assert response.status_code == 404

    changed = {**PHONE_POLICY, "name": "renamed", "entities": {"EMAIL": {"operator": "redact"}}}
    response = client.put(f"/v1/deid/policies/{policy_id}", json=changed, headers=ALICE)
    assert response.status_code == 200 and response.json()["name"] == "renamed"
    assert deid_test(client, ["a@b.example 13812345678"], policy_id=policy_id)["results"][0]["text"] == (
        " 13812345678"
    )
    assert client.delete(f"/v1/deid/policies/{policy_id}", headers=ALICE).status_code == 200
    assert client.get(f"/v1/deid/policies/{policy_id}", headers=ALICE).status_code == 404


def test_default_policy_cannot_be_deleted_and_only_admins_change_it(client: TestClient) -> None:
    response = client.delete("/v1/deid/policies/default", headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"]["code"] == "builtin_policy"
    only_phones = {"name": "default", "entities": {"PHONE": {"operator": "mask"}}}
    assert client.put("/v1/deid/policies/default", json=only_phones, headers=ALICE).status_code == 403
    assert client.put("/v1/deid/policies/default", json=only_phones, headers=ADMIN).status_code == 200
    assert deid_test(client, ["13812345678 a@b.example"])["results"][0]["text"] == "138****5678 a@b.example"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "entities": {"NOT_A_TYPE": {"operator": "replace"}}}, "unknown entity types"),
        ({"name": "x", "entities": {"PHONE": {"operator": "shred"}}}, "operator"),
        ({"name": "x", "entities": {}}, "at least one"),
        (
            {"name": "x", "entities": {"PHONE": {"operator": "mask"}}, "dictionary": {"PHONE": ["a"]}},
            "built-in",
        ),
        (
            {"name": "x", "entities": {"PHONE": {"operator": "mask"}}, "dictionary": {"P": ["a\nb"]}},
            "dictionary",
        ),
        ({"name": "x", "entities": {"phone": {"operator": "mask"}}}, "entities"),
    ],
)
def test_bad_policies_are_422_naming_the_problem(client: TestClient, body: dict, field: str) -> None:
    response = client.post("/v1/deid/policies", json=body, headers=ALICE)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json())


def test_requests_over_the_limits_are_413(app_factory) -> None:
    client = app_factory(deid=DeidSettings(deid_max_request_chars=100, deid_max_texts=3))
    response = client.post("/v1/deidentify:test", json={"text": ["x" * 101]}, headers=ALICE)
    assert response.status_code == 413 and response.json()["error"]["param"] == "text"
    response = client.post("/v1/deidentify:test", json={"text": ["a"] * 4}, headers=ALICE)
    assert response.status_code == 413
    assert client.post("/v1/deidentify:test", json={"text": []}, headers=ALICE).status_code == 422
    assert (
        client.post(
            "/v1/deidentify:test", json={"text": ["x"], "policy_id": "../x"}, headers=ALICE
        ).status_code
        == 422
    )


# ---- whole datasets ------------------------------------------------------------------

RECORDS = [
    {
        "messages": [
            {"role": "user", "content": "我的手机13812345678，身份证11010519491231002X"},
            {"role": "assistant", "content": "好的，已记录 13812345678。"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "email zhang@example.com please"},
            {"role": "assistant", "content": "Sent to zhang@example.com."},
        ],
        "meta": {"phone_13812345678": 1, "tags": ["vip", "13912345678"]},
    },
]


def upload_dataset(client: TestClient, name: str, content: bytes, headers: dict = ALICE) -> str:
    dataset_id = client.post("/v1/datasets", json={"name": "chats"}, headers=headers).json()["id"]
    response = client.put(
        f"/v1/datasets/{dataset_id}/files", files={"file": (name, content)}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dataset_id


def wait_for_job(client: TestClient, job_id: str, headers: dict = ALICE, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/deid/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def output_records(client: TestClient, dataset_id: str, headers: dict = ALICE) -> tuple[dict, bytes]:
    dataset = client.get(f"/v1/datasets/{dataset_id}", headers=headers).json()
    (file,) = dataset["files"]
    content = client.get(
        f"/v1/datasets/{dataset_id}/files/{file['upload_id']}/content", headers=headers
    ).content
    return dataset, content


def test_jsonl_dataset_end_to_end_with_mapping(client: TestClient, tmp_path: Path) -> None:
    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS, "not json: call 13912345678"))
    response = client.post(
        f"/v1/datasets/{source_id}/deidentify", json={"store_mapping": True}, headers=ALICE
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["records"] == 3 and job["files_done"] == job["files_total"] == 1
    assert job["counts"] == {"PHONE": 4, "ID_CARD": 1, "EMAIL": 2}

    dataset, content = output_records(client, job["output_dataset_id"])
    assert dataset["name"] == "chats-deid" and dataset["files"][0]["name"] == "chats.jsonl"
    # the line that is not JSON is kept (masked), so the copy is as partial as its source
    assert dataset["files"][0]["status"] == "partial" and dataset["status"] == "invalid"
    lines = content.decode().splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["messages"][0] == {"role": "user", "content": "我的手机<PHONE_1>，身份证<ID_CARD_1>"}
    assert first["messages"][1]["content"] == "好的，已记录 <PHONE_1>。"
    assert second["messages"][1]["content"] == "Sent to <EMAIL_1>."
    assert second["meta"] == {"phone_13812345678": 1, "tags": ["vip", "<PHONE_2>"]}  # keys untouched
    assert lines[2] == "not json: call <PHONE_2>"
    for secret in ("13812345678", "11010519491231002X", "zhang@example.com"):
        assert secret not in content.decode().replace("phone_13812345678", "")

    mapping = client.get(f"/v1/deid/mappings/{job['id']}", headers=ADMIN)
    assert mapping.status_code == 200, mapping.text
    entries = {e["replacement"]: (e["type"], e["original"]) for e in mapping.json()["entries"]}
    assert entries == {
        "<PHONE_1>": ("PHONE", "13812345678"),
        "<ID_CARD_1>": ("ID_CARD", "11010519491231002X"),
        "<EMAIL_1>": ("EMAIL", "zhang@example.com"),
        "<PHONE_2>": ("PHONE", "13912345678"),
    }
    for key in (ALICE, BOB):
        refused = client.get(f"/v1/deid/mappings/{job['id']}", headers=key)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    sealed = list((tmp_path / "data" / "deid" / "mappings").iterdir())
    assert len(sealed) == 1 and b"13812345678" not in sealed[0].read_bytes()
    assert sealed[0].stat().st_mode & 0o777 == 0o600


def test_json_array_dataset_keeps_its_format(client: TestClient) -> None:
    records = [{"instruction": "回复客户", "input": "电话010-62345678", "output": "好"}]
    source_id = upload_dataset(client, "alpaca.json", json.dumps(records, ensure_ascii=False).encode())
    policy_id = create_policy(client, {"name": "lines", "entities": {"LANDLINE": {"operator": "mask"}}})
    response = client.post(
        f"/v1/datasets/{source_id}/deidentify", json={"policy_id": policy_id, "name": "clean"}, headers=ALICE
    )
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded" and job["counts"] == {"LANDLINE": 1}
    dataset, content = output_records(client, job["output_dataset_id"])
    assert dataset["name"] == "clean" and dataset["files"][0]["format"] == "alpaca"
    assert json.loads(content) == [{"instruction": "回复客户", "input": "电话010-6*****78", "output": "好"}]
    # no mapping was asked for
    assert client.get(f"/v1/deid/mappings/{job['id']}", headers=ADMIN).status_code == 404


def test_dataset_jobs_respect_ownership_and_state(client: TestClient) -> None:
    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS))
    assert client.post(f"/v1/datasets/{source_id}/deidentify", json={}, headers=BOB).status_code == 404
    bob_policy = create_policy(client, headers=BOB)
    response = client.post(
        f"/v1/datasets/{source_id}/deidentify", json={"policy_id": bob_policy}, headers=ALICE
    )
    assert response.status_code == 404 and response.json()["error"]["param"] == "policy_id"
    empty_id = client.post("/v1/datasets", json={"name": "empty"}, headers=ALICE).json()["id"]
    response = client.post(f"/v1/datasets/{empty_id}/deidentify", json={}, headers=ALICE)
    assert response.status_code == 400 and response.json()["error"]["code"] == "dataset_empty"
    job_id = client.post(f"/v1/datasets/{source_id}/deidentify", json={}, headers=ALICE).json()["id"]
    assert client.get(f"/v1/deid/jobs/{job_id}", headers=BOB).status_code == 404
    assert wait_for_job(client, job_id)["status"] == "succeeded"


def test_each_job_of_a_dataset_gets_its_own_output_name(client: TestClient) -> None:
    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS))
    # another owner's dataset of the same name takes nothing from alice
    client.post("/v1/datasets", json={"name": "chats-deid"}, headers=BOB)

    def output_name(**body) -> str:
        response = client.post(f"/v1/datasets/{source_id}/deidentify", json=body, headers=ALICE)
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job
        return client.get(f"/v1/datasets/{job['output_dataset_id']}", headers=ALICE).json()["name"]

    assert [output_name(), output_name(), output_name()] == ["chats-deid", "chats-deid-2", "chats-deid-3"]
    assert output_name(name="mine") == "mine"
    # a freed name is used again
    [second] = client.get("/v1/datasets?name=chats-deid-2", headers=ALICE).json()["data"]
    assert client.delete(f"/v1/datasets/{second['id']}", headers=ALICE).status_code == 200
    assert output_name() == "chats-deid-2"


def test_a_long_source_name_still_leaves_room_for_the_suffix(client: TestClient) -> None:
    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS))
    client.patch(f"/v1/datasets/{source_id}", json={"name": "x" * 128}, headers=ALICE)
    names = []
    for _ in range(2):
        job = client.post(f"/v1/datasets/{source_id}/deidentify", json={}, headers=ALICE).json()
        names.append(client.get(f"/v1/datasets/{job['output_dataset_id']}", headers=ALICE).json()["name"])
        wait_for_job(client, job["id"])
    assert names == ["x" * 117 + "-deid", "x" * 117 + "-deid-2"]
    assert all(len(name) <= 128 for name in names)


def test_same_seed_gives_the_same_dataset(client: TestClient) -> None:
    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS))
    policy_id = create_policy(client)

    def run(seed: int) -> bytes:
        body = {"policy_id": policy_id, "seed": seed}
        job = wait_for_job(
            client, client.post(f"/v1/datasets/{source_id}/deidentify", json=body, headers=ALICE).json()["id"]
        )
        return output_records(client, job["output_dataset_id"])[1]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_text_that_is_not_unicode_is_422(client: TestClient) -> None:
    body = '{"text": ["ok", "a\\udaec 13812345678"]}'
    response = client.post(
        "/v1/deidentify:test", content=body, headers={**ALICE, "content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["param"] == "text.1"


def test_lines_that_are_not_json_or_not_utf8_are_still_masked(client: TestClient) -> None:
    deep = "[" * 500 + '"13712345678"' + "]" * 500
    content = (
        jsonl(*RECORDS)
        + b'{"text": "lone \\udaec surrogate, phone 13812345678"}\n'
        + b"raw \xff\xfe bytes and 13912345678\n"
        + deep.encode()
        + b"\n"
        + b'{"n": '
        + b"9" * 5000
        + b', "t": "13612345678"}\n'
    )
    source_id = upload_dataset(client, "odd.jsonl", content)
    job = wait_for_job(
        client, client.post(f"/v1/datasets/{source_id}/deidentify", json={}, headers=ALICE).json()["id"]
    )
    assert job["status"] == "succeeded", job
    lines = output_records(client, job["output_dataset_id"])[1].split(b"\n")
    assert json.loads(lines[2]) == {"text": "lone \udaec surrogate, phone <PHONE_1>"}
    assert lines[3] == b"raw \xff\xfe bytes and <PHONE_2>"
    # too deep to walk, or a number Python refuses: de-identified as text, not a failed job
    assert lines[4] == ("[" * 500 + '"<PHONE_3>"' + "]" * 500).encode()
    assert lines[5] == b'{"n": ' + b"9" * 5000 + b', "t": "<PHONE_4>"}'


def test_a_job_cut_short_starts_over_and_writes_each_file_once(client: TestClient) -> None:
    from src.features.auth.service import Principal, Role
    from src.features.deid import service
    from src.models.deid import DeidJobCreate
    from src.storage.tables import Dataset, DeidPolicy

    lines = [{"text": f"客户{i}的手机1381234{i % 10000:04d}"} for i in range(5000)]
    source_id = upload_dataset(client, "many.jsonl", jsonl(*lines))
    app = client.app
    with app.state.store.session_scope() as session:
        job = service.start_job(
            session,
            principal=Principal(owner="alice", role=Role.user),
            dataset=session.get(Dataset, source_id),
            policy=session.get(DeidPolicy, "default"),
            data=DeidJobCreate(store_mapping=True),
        )
        job_id, output_id = job.id, job.output_dataset_id
    run = {
        "store": app.state.store,
        "job_id": job_id,
        "files": app.state.dataset_files,
        "vault": app.state.deid_vault,
    }
    service.run_job(**run, should_stop=lambda: True)  # the service stops mid-file
    interrupted = client.get(f"/v1/deid/jobs/{job_id}", headers=ALICE).json()
    assert interrupted["status"] == "running" and interrupted["files_done"] == 0
    assert not list(app.state.dataset_files.dataset_dir(output_id).glob("*"))  # no partial file left

    service.run_job(**run, should_stop=lambda: False)  # the next start runs it again
    job = client.get(f"/v1/deid/jobs/{job_id}", headers=ALICE).json()
    assert job["status"] == "succeeded" and job["records"] == 5000 and job["counts"] == {"PHONE": 5000}
    dataset, content = output_records(client, output_id)
    assert len(dataset["files"]) == 1 and content.count(b"\n") == 5000
    assert b"13812340001" not in content


def test_a_failed_job_leaves_no_output_and_names_no_path(client: TestClient, tmp_path: Path) -> None:
    from src.features.auth.service import Principal, Role
    from src.features.deid import service
    from src.models.deid import DeidJobCreate
    from src.storage.tables import Dataset, DeidPolicy

    source_id = upload_dataset(client, "chats.jsonl", jsonl(*RECORDS))
    app = client.app
    with app.state.store.session_scope() as session:
        source = session.get(Dataset, source_id)
        job = service.start_job(
            session,
            principal=Principal(owner="alice", role=Role.user),
            dataset=source,
            policy=session.get(DeidPolicy, "default"),
            data=DeidJobCreate(),
        )
        job_id, output_id = job.id, job.output_dataset_id
        stored = app.state.dataset_files.path(source_id, source.files[0].stored_name)
    stored.unlink()  # the source file vanished under the job
    service.run_job(
        app.state.store,
        job_id=job_id,
        files=app.state.dataset_files,
        vault=app.state.deid_vault,
        should_stop=lambda: False,
    )
    job = client.get(f"/v1/deid/jobs/{job_id}", headers=ALICE).json()
    assert job["status"] == "failed" and "could not be read or written" in job["error"]
    assert str(tmp_path) not in job["error"]
    assert client.get(f"/v1/datasets/{output_id}", headers=ALICE).status_code == 404
    assert not app.state.dataset_files.dataset_dir(output_id).exists()
