"""An upload that failed validation never reaches a run: only valid files are staged, uploads stay root's."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.features.runs.conftest import ALICE, host_path, start_run

# the first bytes of an ELF shared object, as `gcc -shared` writes them
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00\x3e\x00" + bytes(200)
CHAT = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def test_an_invalid_upload_is_not_staged_and_uploads_are_closed_to_children(runs_client) -> None:
    client = runs_client(scheduler=False)
    dataset_id = client.post("/v1/datasets", json={"name": "mixed"}, headers=ALICE).json()["id"]
    for name, content in (("evil.jsonl", ELF), ("chat.jsonl", CHAT)):
        uploaded = client.put(
            f"/v1/datasets/{dataset_id}/files", files={"file": (name, content)}, headers=ALICE
        )
        assert uploaded.status_code == 201, uploaded.text
    statuses = {
        f["name"]: f["status"]
        for f in client.get(f"/v1/datasets/{dataset_id}", headers=ALICE).json()["files"]
    }
    assert statuses == {"evil.jsonl": "invalid", "chat.jsonl": "valid"}

    run = start_run(client, {"dataset": dataset_id})
    staged = host_path(client, run["workspace"]) / "data"
    assert sorted(p.name for p in staged.iterdir()) == ["chat.jsonl"]
    assert not any(p.read_bytes().startswith(b"\x7fELF") for p in staged.parent.rglob("*") if p.is_file())

    uploads = Path(client.app.state.dataset_files.root)
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
