"""Training configs: the single slot, named configs, YAML safety and summaries."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import UploadSettings
from tests.conftest import ALICE_KEY, BOB_KEY, bearer

ALICE = bearer(ALICE_KEY)
SFT_YAML = b"""\
model_name_or_path: /models/qwen2.5-7b
stage: sft
finetuning_type: lora
dataset: support
template: qwen
output_dir: saves/qwen-sft
num_train_epochs: 3.0
learning_rate: 1.0e-4
per_device_train_batch_size: 2
gradient_accumulation_steps: 8
cutoff_len: 2048
lora_rank: 8
quantization_bit: 4
report_to: none
"""
BILLION_LAUGHS = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def put_slot(client: TestClient, name: str, content: bytes, headers: dict = ALICE):
    return client.put("/v1/train-config", files={"file": (name, content)}, headers=headers)


def config_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "train_configs"
    return sorted(root.iterdir()) if root.exists() else []


def test_slot_put_get_replace_delete(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/v1/train-config", headers=ALICE).status_code == 404
    first = put_slot(client, "sft.yaml", SFT_YAML)
    assert first.status_code == 200, first.text
    meta = first.json()["train_config"]
    assert meta["filename"] == "sft.yaml" and meta["size"] == len(SFT_YAML)
    assert client.get("/v1/train-config", headers=ALICE).json() == meta  # the seed's GET: no wrapper
    second = put_slot(client, "other.yml", b"stage: sft\nmodel_name_or_path: m\n").json()["train_config"]
    assert second["id"] != meta["id"] and len(config_files(tmp_path)) == 1
    assert client.delete("/v1/train-config", headers=ALICE).json() == {"status": "train_config_deleted"}
    assert client.get("/v1/train-config", headers=ALICE).status_code == 404
    assert config_files(tmp_path) == []


def test_slot_get_answers_the_seeds_top_level_metadata(client: TestClient) -> None:
    """Seed 004: PUT answers {"train_config": {...}}, GET answers the metadata itself."""
    put = put_slot(client, "finetune.yaml", SFT_YAML)
    assert set(put.json()) == {"train_config"}
    got = client.get("/v1/train-config", headers=ALICE)
    assert got.status_code == 200
    body = got.json()
    assert "train_config" not in body
    assert body["filename"] == "finetune.yaml" and body["size"] == len(SFT_YAML)
    assert body["uploaded_at"].endswith("Z") or body["uploaded_at"].endswith("+00:00")
    assert body == put.json()["train_config"]


def test_slots_are_per_owner(client: TestClient) -> None:
    put_slot(client, "a.yaml", SFT_YAML)
    assert client.get("/v1/train-config", headers=bearer(BOB_KEY)).status_code == 404


def test_summary_of_llamafactory_keys(client: TestClient) -> None:
    meta = put_slot(client, "sft.yaml", SFT_YAML).json()["train_config"]
    assert meta["summary"] == {
        "model_name_or_path": "/models/qwen2.5-7b",
        "stage": "sft",
        "finetuning_type": "lora",
        "dataset": "support",
        "template": "qwen",
        "output_dir": "saves/qwen-sft",
        "num_train_epochs": 3.0,
        "learning_rate": 1.0e-4,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 8,
        "cutoff_len": 2048,
        "lora_rank": 8,
        "quantization_bit": 4,
    }
    assert meta["warnings"] == []


def test_warnings_for_values_that_cannot_work(client: TestClient) -> None:
    content = (
        b"model_name_or_path: m\nstage: finetune\nlearning_rate: -3e-5\nquantization_bit: 7\ncutoff_len: 0\n"
    )
    warnings = put_slot(client, "w.yaml", content).json()["train_config"]["warnings"]
    assert any("unknown stage 'finetune'" in w for w in warnings)
    assert any(w.startswith("learning_rate must be positive") for w in warnings)
    assert any(w.startswith("quantization_bit must be one of") for w in warnings)
    assert any(w.startswith("cutoff_len must be at least 1") for w in warnings)


def test_syntax_error_is_400_with_line_and_column(client: TestClient, tmp_path: Path) -> None:
    response = put_slot(client, "bad.yaml", b"stage: sft\nlearning_rate: [1e-4\ncutoff_len: 10\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_yaml"
    assert "line 3" in error["message"] and "column" in error["message"]
    assert config_files(tmp_path) == []


def test_alias_bomb_is_refused(client: TestClient, tmp_path: Path) -> None:
    response = put_slot(client, "bomb.yaml", BILLION_LAUGHS)
    assert response.status_code == 400
    assert "expands to more than" in response.json()["error"]["message"]
    assert config_files(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.yaml", b"- a\n- b\n", "must be a YAML mapping"),
        ("empty.yaml", b"", "empty"),
        ("config.json", b"stage: sft\n", "must be a .yaml or .yml file"),
        ("bin.yaml", b"\xff\xfe\x00", "not UTF-8"),
        ("tag.yaml", b"x: !!python/object/apply:os.system ['id']\n", "YAML syntax error"),
    ],
)
def test_unusable_yaml_is_400(client: TestClient, name: str, content: bytes, message: str) -> None:
    response = put_slot(client, name, content)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_oversize_yaml_is_413(app_factory, tmp_path: Path) -> None:
    client = app_factory(uploads=UploadSettings(max_yaml_bytes=1000))
    response = put_slot(client, "big.yaml", b"k: " + b"x" * 2000 + b"\n")
    assert response.status_code == 413
    as_json = client.post(
        "/v1/train-configs", json={"name": "big.yaml", "content": "k: " + "x" * 1500}, headers=ALICE
    )
    assert as_json.status_code == 413
    assert config_files(tmp_path) == []


def test_named_configs_multipart_and_json(client: TestClient) -> None:
    multipart = client.post("/v1/train-configs", files={"file": ("a.yaml", SFT_YAML)}, headers=ALICE)
    assert multipart.status_code == 201 and multipart.json()["slot"] is False
    as_json = client.post(
        "/v1/train-configs", json={"name": "b.yaml", "content": "stage: sft\n"}, headers=ALICE
    )
    assert as_json.status_code == 201
    config_id = multipart.json()["id"]
    assert client.get(f"/v1/train-configs/{config_id}", headers=ALICE).json()["summary"]["stage"] == "sft"
    content = client.get(f"/v1/train-configs/{config_id}/content", headers=ALICE)
    assert content.content == SFT_YAML and content.headers["content-type"].startswith("application/yaml")
    listed = client.get("/v1/train-configs?limit=1", headers=ALICE).json()
    assert [c["name"] for c in listed["data"]] == ["b.yaml"] and listed["has_more"]
    page2 = client.get(f"/v1/train-configs?after={listed['data'][0]['id']}", headers=ALICE).json()
    assert [c["name"] for c in page2["data"]] == ["a.yaml"] and not page2["has_more"]
    assert client.delete(f"/v1/train-configs/{config_id}", headers=ALICE).status_code == 200
    assert client.get(f"/v1/train-configs/{config_id}", headers=ALICE).status_code == 404


def test_json_body_is_validated(client: TestClient) -> None:
    response = client.post(
        "/v1/train-configs", json={"name": "x.yaml", "content": 5, "extra": 1}, headers=ALICE
    )
    assert response.status_code == 422
    wrong_type = client.post(
        "/v1/train-configs", content=b"stage: sft", headers={**ALICE, "content-type": "text/yaml"}
    )
    assert wrong_type.status_code == 400


def test_other_owners_configs_are_404(client: TestClient) -> None:
    config_id = client.post(
        "/v1/train-configs", json={"name": "a.yaml", "content": "a: 1\n"}, headers=ALICE
    ).json()["id"]
    bob = bearer(BOB_KEY)
    assert client.get(f"/v1/train-configs/{config_id}", headers=bob).status_code == 404
    assert client.get(f"/v1/train-configs/{config_id}/content", headers=bob).status_code == 404
    assert client.delete(f"/v1/train-configs/{config_id}", headers=bob).status_code == 404
    assert client.get("/v1/train-configs", headers=bob).json()["data"] == []
