"""Datasets through real multipart HTTP: uploads, validation, preview, ownership, cleanup."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import UploadSettings
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.support.data import ALPACA, OPENAI, SHAREGPT, SHAREGPT_ROLES, big_jsonl, jsonl

ALICE = bearer(ALICE_KEY)


def new_dataset(client: TestClient, headers: dict = ALICE, **fields) -> str:
    response = client.post("/v1/datasets", json={"name": "chats", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(client: TestClient, dataset_id: str, name: str, content: bytes, headers: dict = ALICE):
    return client.put(f"/v1/datasets/{dataset_id}/files", files={"file": (name, content)}, headers=headers)


def stored_files(data_dir: Path) -> list[Path]:
    root = data_dir / "datasets"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_create_and_get_record(client: TestClient) -> None:
    dataset_id = new_dataset(client, type="sft", task_type="chat", metadata={"lang": "zh"}, description="d")
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["status"] == "pending" and record["files"] == []
    assert record["metadata"] == {"lang": "zh"} and record["owner"] == "alice"
    assert record["upload_progress"] == {"files_count": 0, "bytes_received": 0, "uploads": []}


def test_multi_megabyte_upload_keeps_bytes_and_hash(client: TestClient, data_dir: Path) -> None:
    content = big_jsonl(6 * 1024 * 1024)
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, "train.jsonl", content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["bytes"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["stored_name"] == f"{body['upload_id']}_train.jsonl"
    assert body["status"] == "valid"
    [stored] = stored_files(data_dir)
    assert stored.read_bytes() == content
    downloaded = client.get(f"/v1/datasets/{dataset_id}/files/{body['upload_id']}/content", headers=ALICE)
    assert downloaded.content == content
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["status"] == "ready"
    assert record["files"][0]["records"] == content.count(b"\n")


def test_over_cap_is_413_and_leaves_nothing(app_factory, data_dir: Path) -> None:
    client = app_factory(uploads=UploadSettings(max_upload_bytes=100_000))
    dataset_id = new_dataset(client)
    # over the cap but under cap + multipart allowance: caught while streaming
    streamed = upload(client, dataset_id, "a.jsonl", big_jsonl(150_000))
    # far over the cap: refused from Content-Length before reading
    declared = upload(client, dataset_id, "b.jsonl", big_jsonl(1_000_000))
    for response in (streamed, declared):
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert stored_files(data_dir) == []
    assert client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"] == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../x.jsonl", "x.jsonl"),
        ("a/b.jsonl", "b.jsonl"),
        ("..\\..\\win.jsonl", "win.jsonl"),
        (".hidden.jsonl", "hidden.jsonl"),
        ("nul\x00byte.jsonl", "nul_00byte.jsonl"),  # httpx sends NUL as %00
        ("数据 集.jsonl", "数据_集.jsonl"),
        ("x" * 300 + ".jsonl", "x" * 194 + ".jsonl"),
        ("semi;colon$(rm).jsonl", "semi_colon__rm_.jsonl"),
    ],
)
def test_odd_filenames_stay_inside_the_dataset_folder(
    client: TestClient, data_dir: Path, given: str, stored: str
) -> None:
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, given, jsonl(OPENAI))
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == stored
    [path] = stored_files(data_dir)
    assert path.parent == (data_dir / "datasets" / dataset_id)
    assert path.name == f"{response.json()['upload_id']}_{stored}"


def test_raw_nul_byte_in_filename_never_reaches_disk(client: TestClient, data_dir: Path) -> None:
    dataset_id = new_dataset(client)
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="../a\x00b.jsonl"\r\n\r\n'
        + jsonl(OPENAI)
        + b"\r\n--XyZ--\r\n"
    )
    response = client.put(
        f"/v1/datasets/{dataset_id}/files",
        content=body,
        headers={**ALICE, "content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "ab.jsonl"
    [path] = stored_files(data_dir)
    assert b"\x00" not in bytes(path) and path.parent == data_dir / "datasets" / dataset_id


@pytest.mark.parametrize("name", [".env", "notes.txt", "model.bin", "../../etc/passwd"])
def test_unsupported_file_types_are_refused_before_storing(
    client: TestClient, data_dir: Path, name: str
) -> None:
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, name, b"secret=1\n")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_file_type"
    assert stored_files(data_dir) == []


def test_not_multipart_and_missing_file_part_are_400(client: TestClient, data_dir: Path) -> None:
    dataset_id = new_dataset(client)
    raw = client.put(
        f"/v1/datasets/{dataset_id}/files", content=b"{}", headers={**ALICE, "content-type": "text/plain"}
    )
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "bad_multipart"
    other_field = client.put(
        f"/v1/datasets/{dataset_id}/files", files={"data": ("a.jsonl", b"x")}, headers=ALICE
    )
    assert (
        other_field.status_code == 400
        and "no file part named 'file'" in other_field.json()["error"]["message"]
    )
    truncated = client.put(
        f"/v1/datasets/{dataset_id}/files",
        content=b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"a": 1}',
        headers={**ALICE, "content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert truncated.status_code == 400 and "closing boundary" in truncated.json()["error"]["message"]
    assert stored_files(data_dir) == []


@pytest.mark.parametrize(
    ("record", "dialect"),
    [
        (OPENAI, "openai_chat"),
        (ALPACA, "alpaca"),
        (SHAREGPT, "sharegpt"),
        (SHAREGPT_ROLES, "sharegpt_role_content"),
    ],
)
def test_each_format_is_detected(client: TestClient, record: dict, dialect: str) -> None:
    dataset_id = new_dataset(client)
    upload(client, dataset_id, "one.jsonl", jsonl(record, record))
    file = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"][0]
    assert file["format"] == dialect
    assert file["validation"]["dialect_counts"] == {dialect: 2}


def test_mixed_file_reports_per_dialect_counts_and_line_numbers(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    upload(
        client,
        dataset_id,
        "mixed.jsonl",
        jsonl(
            OPENAI,
            "{bad json",
            ALPACA,
            {"messages": [{"role": "user", "content": "only a question"}]},
            SHAREGPT,
        ),
    )
    report = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"][0]["validation"]
    assert report["dialect_counts"] == {"openai_chat": 1, "alpaca": 1, "sharegpt": 1}
    assert report["format"] == "mixed"
    assert [(e["line"], e["reason"][:8]) for e in report["errors"]] == [(2, "bad JSON"), (4, "wrong ro")]
    assert report["approx_tokens"] > 0 and report["total_turns"] == 3 + 2 + 2


def test_file_without_valid_records_makes_dataset_invalid(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, "bad.jsonl", jsonl("{x", {"text": "no format"}))
    assert response.status_code == 201 and response.json()["status"] == "invalid"
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["status"] == "invalid"
    assert record["status_reasons"] == [
        "bad.jsonl: no valid records (line 1: bad JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1))"
    ]
    upload(client, dataset_id, "good.jsonl", jsonl(ALPACA))
    assert client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["status"] == "ready"


def test_strict_dataset_rejects_unknown_keys(client: TestClient) -> None:
    dataset_id = new_dataset(client, strict=True)
    response = upload(client, dataset_id, "s.jsonl", jsonl({**ALPACA, "source": "web"}))
    assert response.json()["status"] == "invalid"
    reason = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"][0]["validation"][
        "errors"
    ][0]
    assert "unknown keys ['source']" in reason["reason"]


def test_large_files_are_validated_in_the_background(app_factory) -> None:
    client = app_factory(uploads=UploadSettings(inline_validation_bytes=0))
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, "bg.jsonl", jsonl(OPENAI, ALPACA))
    assert response.json()["status"] == "validating"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
        if record["status"] != "pending":
            break
        time.sleep(0.05)
    assert record["status"] == "ready"
    assert record["files"][0]["status"] == "valid" and record["files"][0]["records"] == 2


def test_preview_returns_parsed_records(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    upload(client, dataset_id, "p.jsonl", jsonl("{bad", OPENAI, ALPACA, SHAREGPT))
    preview = client.get(f"/v1/datasets/{dataset_id}/preview?limit=2", headers=ALICE).json()
    assert [(r["line"], r["format"]) for r in preview["data"]] == [(2, "openai_chat"), (3, "alpaca")]
    assert preview["data"][0]["record"] == OPENAI


def test_aborting_a_finished_upload_is_409_and_the_file_route_removes_it(
    client: TestClient, data_dir: Path
) -> None:
    dataset_id = new_dataset(client)
    upload_id = upload(client, dataset_id, "a.jsonl", jsonl(OPENAI)).json()["upload_id"]
    refused = client.delete(f"/v1/uploads/{upload_id}", headers=ALICE)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "upload_finished" and error["param"] == "upload_id"
    assert f"DELETE /v1/datasets/{dataset_id}/files/{upload_id}" in error["message"]
    assert len(stored_files(data_dir)) == 1
    assert client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["status"] == "ready"

    removed = client.delete(f"/v1/datasets/{dataset_id}/files/{upload_id}", headers=ALICE)
    assert removed.status_code == 200, removed.text
    assert stored_files(data_dir) == []
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["files"] == [] and record["status"] == "pending"
    assert client.delete(f"/v1/datasets/{dataset_id}/files/{upload_id}", headers=ALICE).status_code == 404
    assert client.delete(f"/v1/uploads/{upload_id}", headers=ALICE).status_code == 404


def test_a_file_with_some_invalid_records_is_partial_and_not_trained_on(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    response = upload(client, dataset_id, "some.jsonl", jsonl(OPENAI, "{bad", {"text": "no format"}))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["records"], body["invalid_records"]) == ("partial", 1, 2)
    assert body["status_reason"].startswith("2 of 3 records are invalid, so the file is not used")
    assert "first: line 2: bad JSON" in body["status_reason"]
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["status"] == "invalid" and record["files"][0]["status"] == "partial"
    assert record["status_reasons"] == [f"some.jsonl: {body['status_reason']}"]
    # its valid records can still be looked at
    assert [
        r["line"] for r in client.get(f"/v1/datasets/{dataset_id}/preview", headers=ALICE).json()["data"]
    ] == [1]

    clean = upload(client, dataset_id, "clean.jsonl", jsonl(OPENAI, ALPACA)).json()
    assert (clean["status"], clean["records"], clean["invalid_records"], clean["status_reason"]) == (
        "valid",
        2,
        0,
        None,
    )
    record = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()
    assert record["status"] == "ready"
    assert [line.split(":")[0] for line in record["status_reasons"]] == ["some.jsonl"]


def test_a_run_refuses_a_dataset_whose_only_file_is_partial(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    upload(client, dataset_id, "some.jsonl", jsonl(OPENAI, "{bad"))
    client.post("/projects", json={"name": "p"}, headers=ALICE)
    response = client.post("/projects/p/runs", json={"dataset": dataset_id}, headers=ALICE)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "dataset"
    assert "is invalid, not ready" in response.json()["error"]["message"]


def test_openai_file_upload_with_some_invalid_records_is_not_processed(client: TestClient) -> None:
    response = client.post(
        "/v1/files",
        files={"file": ("some.jsonl", jsonl(OPENAI, "{bad", "{worse"))},
        data={"purpose": "fine-tune"},
        headers=ALICE,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "error"
    assert response.json()["status_details"].startswith("2 of 3 records are invalid"), response.json()


def test_other_owners_see_404(client: TestClient, data_dir: Path) -> None:
    dataset_id = new_dataset(client)
    upload_id = upload(client, dataset_id, "a.jsonl", jsonl(OPENAI)).json()["upload_id"]
    bob = bearer(BOB_KEY)
    assert client.get(f"/v1/datasets/{dataset_id}", headers=bob).status_code == 404
    assert upload(client, dataset_id, "b.jsonl", jsonl(OPENAI), headers=bob).status_code == 404
    assert client.get(f"/v1/datasets/{dataset_id}/preview", headers=bob).status_code == 404
    assert client.get(f"/v1/datasets/{dataset_id}/files/{upload_id}/content", headers=bob).status_code == 404
    assert client.patch(f"/v1/datasets/{dataset_id}", json={"name": "x"}, headers=bob).status_code == 404
    assert client.delete(f"/v1/uploads/{upload_id}", headers=bob).status_code == 404
    assert client.delete(f"/v1/datasets/{dataset_id}", headers=bob).status_code == 404
    assert client.get("/v1/datasets", headers=bob).json()["data"] == []
    assert len(stored_files(data_dir)) == 1
    assert client.get(f"/v1/datasets/{dataset_id}", headers=bearer(ADMIN_KEY)).status_code == 200


def test_list_pages_newest_first(client: TestClient) -> None:
    ids = [new_dataset(client, name=f"d{i}") for i in range(5)]
    first = client.get("/v1/datasets?limit=3", headers=ALICE).json()
    assert [d["id"] for d in first["data"]] == ids[::-1][:3] and first["has_more"]
    rest = client.get(f"/v1/datasets?limit=3&after={first['data'][-1]['id']}", headers=ALICE).json()
    assert [d["id"] for d in rest["data"]] == ids[::-1][3:] and not rest["has_more"]
    assert [d["name"] for d in client.get("/v1/datasets?name=d2", headers=ALICE).json()["data"]] == ["d2"]


def test_delete_refused_while_a_run_uses_it(client: TestClient, store, data_dir: Path) -> None:
    from tests.support.rows import add_run

    dataset_id = new_dataset(client)
    upload(client, dataset_id, "a.jsonl", jsonl(OPENAI))
    client.post("/projects", json={"name": "p"}, headers=ALICE)
    run_id = add_run(store, project="p", status="running", dataset_id=dataset_id)
    response = client.delete(f"/v1/datasets/{dataset_id}", headers=ALICE)
    assert response.status_code == 400 and response.json()["error"]["code"] == "dataset_in_use"
    assert len(stored_files(data_dir)) == 1
    from tests.support.rows import set_run_status

    set_run_status(store, run_id=run_id, status="succeeded")
    assert client.delete(f"/v1/datasets/{dataset_id}", headers=ALICE).status_code == 200
    assert stored_files(data_dir) == []
    assert client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).status_code == 404


def test_link_and_unlink_a_training_config(client: TestClient) -> None:
    config = client.post(
        "/v1/train-configs", json={"name": "c.yaml", "content": "stage: sft\n"}, headers=ALICE
    )
    config_id = config.json()["id"]
    dataset_id = new_dataset(client, train_config=config_id)
    linked = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["train_config"]
    assert linked == {"id": config_id, "name": "c.yaml", "filename": "c.yaml"}
    unlinked = client.patch(f"/v1/datasets/{dataset_id}", json={"train_config": None}, headers=ALICE).json()
    assert unlinked["train_config"] is None
    client.patch(f"/v1/datasets/{dataset_id}", json={"train_config": config_id}, headers=ALICE)
    client.delete(f"/v1/train-configs/{config_id}", headers=ALICE)
    assert client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["train_config"] is None
    bobs = client.post(
        "/v1/train-configs", json={"name": "b.yaml", "content": "a: 1\n"}, headers=bearer(BOB_KEY)
    )
    refused = client.patch(
        f"/v1/datasets/{dataset_id}", json={"train_config": bobs.json()["id"]}, headers=ALICE
    )
    assert refused.status_code == 404


def test_lines_python_cannot_parse_are_invalid_records_not_errors(client: TestClient) -> None:
    dataset_id = new_dataset(client)
    content = jsonl(OPENAI) + b'{"n": ' + b"9" * 5000 + b"}\n" + b"[" * 100_000 + b"\n"
    response = upload(client, dataset_id, "odd.jsonl", content)
    assert response.status_code == 201, response.text
    validation = client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"][0]["validation"]
    assert validation["valid_conversations"] == 1
    assert [e["line"] for e in validation["errors"]] == [2, 3]
