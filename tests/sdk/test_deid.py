"""De-identification through the SDK and the CLI against a live server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from tuning_sdk import AsyncTuningClient, PermissionDeniedError, TuningClient
from tuning_sdk.cli import app
from typer.testing import CliRunner

from tests.conftest import ALICE_KEY
from tests.sdk.conftest import KEY

pytestmark = pytest.mark.slow
CHATS = [
    {
        "messages": [
            {"role": "user", "content": "我的手机13812345678"},
            {"role": "assistant", "content": "好的"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "mail zhang@example.com"},
            {"role": "assistant", "content": "ok"},
        ]
    },
]


def test_sdk_policies_texts_and_datasets(start_live_server, tmp_path: Path) -> None:
    base = start_live_server(
        TUNING_API_KEYS=json.dumps([KEY, {"key": ALICE_KEY, "owner": "alice", "role": "user"}])
    )
    with TuningClient(api_key=KEY, base_url=base) as client:
        result = client.deid.test(["call 13812345678", "again 13812345678"], return_mapping=True)
        assert [r["text"] for r in result.results] == ["call <PHONE_1>", "again <PHONE_1>"]
        assert result.counts == {"PHONE": 2} and result.mapping == {"<PHONE_1>": "13812345678"}

        policy = client.deid.create_policy("masks", {"PHONE": "mask", "EMAIL": {"operator": "redact"}})
        assert [p.id for p in client.deid.list_policies()] == ["default", policy.id]
        masked = client.deid.test(["13812345678 a@example.com"], policy.id)
        assert masked.results[0]["text"] == "138****5678 "

        path = tmp_path / "chats.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in CHATS) + "\n")
        dataset = client.datasets.create("chats")
        client.datasets.upload_file(dataset.id, path)
        job = client.deid.deidentify_dataset(dataset.id, store_mapping=True)
        done = client.deid.wait_for_job(job.id, poll_interval=0.1, timeout=60)
        assert done.status == "succeeded" and done.counts == {"PHONE": 1, "EMAIL": 1}
        assert client.deid.mapping(job.id) == {"<PHONE_1>": "13812345678", "<EMAIL_1>": "zhang@example.com"}
        assert client.datasets.get(done.output_dataset_id).name == "chats-deid"
        assert client.deid.delete_policy(policy.id).detail

    with TuningClient(api_key=ALICE_KEY, base_url=base) as alice, pytest.raises(PermissionDeniedError):
        alice.deid.mapping(job.id)

    async def async_calls() -> str:
        async with AsyncTuningClient(api_key=KEY, base_url=base) as client:
            result = await client.deid.test(["13812345678"])
            return result.results[0]["text"]

    assert asyncio.run(async_calls()) == "<PHONE_1>"


def test_cli_deid(start_live_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNING_BASE_URL", start_live_server())
    monkeypatch.setenv("TUNING_API_KEY", KEY)
    runner = CliRunner()
    out = runner.invoke(app, ["deid", "test", "手机13812345678", "mail a@example.com"])
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == ["手机<PHONE_1>", "mail <EMAIL_1>"]
    # the default policy finds Chinese names and street addresses too
    sample = runner.invoke(app, ["deid", "test", "我叫李娜，住在北京市海淀区中关村大街27号。"])  # noqa: RUF001
    assert sample.exit_code == 0, sample.output
    assert sample.stdout.strip() == "我叫<PERSON_1>，住在<ADDRESS_1>。"  # noqa: RUF001
    listed = runner.invoke(app, ["deid", "policies", "--json"])
    assert [p["id"] for p in json.loads(listed.stdout)] == ["default"]

    with TuningClient(api_key=KEY, base_url=None) as client:
        dataset = client.datasets.create("chats")
        path = tmp_path / "chats.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in CHATS) + "\n")
        client.datasets.upload_file(dataset.id, path)
    job = runner.invoke(app, ["deid", "dataset", dataset.id, "--wait", "--seed", "3"])
    assert job.exit_code == 0, job.output
    assert json.loads(job.stdout)["status"] == "succeeded"
    missing = runner.invoke(app, ["deid", "test", "x", "--policy", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 1 and "not found" in missing.output
