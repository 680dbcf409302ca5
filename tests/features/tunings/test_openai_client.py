"""The unmodified `openai` client against the live server: files, jobs, paging, events, checkpoints."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import tarfile
import time
from pathlib import Path

import openai
import pytest

from tests.features.tunings.conftest import TINY, chat_jsonl
from tests.support.server import free_port, server_env, start_server, wait_until_healthy

pytestmark = pytest.mark.slow
KEY = "test-admin-key-000"


@pytest.fixture
def live_server(tmp_path: Path, database_url: str, tiny_model: Path):
    port = free_port()
    env = server_env(
        database_url,
        port,
        TUNING_DATA_DIR=str(tmp_path / "data"),
        TUNING_TRAINING_DIR=str(tmp_path / "training"),
        TUNING_MODEL_CATALOG=json.dumps({TINY: str(tiny_model)}),
        TUNING_MONITOR_INTERVAL="0.2",
    )
    server = start_server(env, tmp_path)
    try:
        wait_until_healthy(server, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=30)
        from src.storage import Store
        from tests.conftest import clear_tables

        store = Store(database_url, pool_size=1)
        clear_tables(store)
        store.dispose()


def wait_succeeded(client: openai.OpenAI, job_id: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"{job_id} did not finish")


def test_openai_client_end_to_end(live_server: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{live_server}/v1", max_retries=0)
    uploaded = client.files.create(file=("chat.jsonl", chat_jsonl()), purpose="fine-tune")
    assert uploaded.filename == "chat.jsonl" and uploaded.purpose == "fine-tune"
    assert uploaded.status == "processed" and uploaded.bytes == len(chat_jsonl())
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).read() == chat_jsonl()
    assert uploaded.id in [f.id for f in client.files.list()]

    first = client.fine_tuning.jobs.create(
        model=TINY, training_file=uploaded.id, hyperparameters={"n_epochs": 2, "batch_size": 4}, suffix="oa"
    )
    second = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id)
    assert first.status in ("queued", "running") and first.hyperparameters.n_epochs == 2

    page = client.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in page.data] == [second.id] and page.has_more
    rest = client.fine_tuning.jobs.list(limit=10, after=second.id)
    assert [j.id for j in rest.data] == [first.id]

    done = wait_succeeded(client, first.id)
    assert done.status == "succeeded", done
    assert done.fine_tuned_model.startswith(f"{TINY}-oa-")
    assert len(done.result_files) == 2
    for file_id in done.result_files:
        meta = client.files.retrieve(file_id)
        content = client.files.content(file_id).read()
        assert meta.purpose == "fine-tune-results" and len(content) == meta.bytes > 0
        if meta.filename.endswith(".tar"):
            with tarfile.open(fileobj=io.BytesIO(content)) as archive:
                assert f"{first.id}/adapter_model.safetensors" in archive.getnames()
        else:
            header, *rows = content.decode().splitlines()
            assert header.startswith("step,") and [int(r.split(",")[0]) for r in rows] == list(range(1, 9))

    events = client.fine_tuning.jobs.list_events(first.id, limit=50)
    assert events.data and {e.type for e in events.data} <= {"message", "metrics"}
    assert "metrics" in {e.type for e in events.data}
    created = [e.created_at for e in events.data]
    assert created == sorted(created, reverse=True)

    every = client.fine_tuning.jobs.list_events(first.id, limit=1000).data
    steps = [e.data["step"] for e in every if e.type == "metrics"]
    assert sorted(steps) == list(range(1, 9)), "one metrics event per step (16 records, batch 4, 2 epochs)"

    checkpoints = client.fine_tuning.jobs.checkpoints.list(first.id)
    assert checkpoints.data and checkpoints.data[0].fine_tuning_job_id == first.id
    assert checkpoints.data[0].step_number > 0
    assert all(c.metrics.train_loss is not None for c in checkpoints.data)

    wait_succeeded(client, second.id)
    with pytest.raises(openai.BadRequestError) as finished:
        client.fine_tuning.jobs.cancel(first.id)
    assert "already succeeded" in str(finished.value)
    with pytest.raises(openai.BadRequestError) as unknown:
        client.fine_tuning.jobs.create(model="no/such-model", training_file=uploaded.id)
    assert "unknown model" in str(unknown.value)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("job-000000000000")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong-key-123", base_url=f"{live_server}/v1", max_retries=0).files.list()
