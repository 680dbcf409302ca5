"""The SDK against a live server over real HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from tuning_sdk import (
    APIConnectionError,
    AsyncTuningClient,
    AuthenticationError,
    InvalidRequestError,
    JobStatus,
    NotFoundError,
    RateLimitError,
    TuningClient,
)

from tests.features.tunings.conftest import TINY
from tests.sdk.conftest import DEPLOYABLE, KEY
from tests.support.server import free_port

pytestmark = pytest.mark.slow


def test_tuning_job_lifecycle(start_live_server, training_file: Path) -> None:
    base = start_live_server()
    with TuningClient(api_key=KEY, base_url=base) as client:
        assert client.health_check()["status"] == "healthy"
        uploaded = client.files.upload(training_file)
        assert uploaded.status == "processed" and client.files.get(uploaded.id).filename == "chat.jsonl"
        assert client.files.content(uploaded.id) == training_file.read_bytes()
        assert uploaded.id in [f.id for f in client.files.list()]
        assert TINY in [m.id for m in client.models.list()]

        job = client.tunings.create(TINY, uploaded.id, hyperparameters={"epochs": 3, "learning_rate": 0.005})
        assert job.status is JobStatus.pending and job.metrics is None and not job.is_terminal
        seen: list[float] = []
        done = client.tunings.wait(
            job.id,
            on_progress=lambda j: seen.append(j.metrics.progress if j.metrics else 0.0),
            poll_interval=0.2,
        )
        assert done.is_successful and done.status.value == "succeeded"
        assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
        assert done.metrics.train_loss is not None and "adapter_model.safetensors" in done.result_files
        assert any(p["loss"] for p in client.tunings.metrics(job.id))
        lines = list(client.tunings.stream_logs(job.id))
        assert any("saved lora weights" in line for line in lines)
        assert client.models.get(done.fine_tuned_model).kind == "fine-tuned"
        assert job.refresh().is_successful
        with pytest.raises(InvalidRequestError):
            job.cancel()
        assert client.tunings.delete(job.id).deleted is True
        with pytest.raises(NotFoundError) as missing:
            client.tunings.get(job.id)
        assert missing.value.status_code == 404 and missing.value.request_id
        assert client.files.delete(uploaded.id).deleted is True


def test_other_resources(start_live_server, training_file: Path, tmp_path: Path) -> None:
    base = start_live_server()
    with TuningClient(api_key=KEY, base_url=base) as client:
        dataset = client.datasets.create("chats")
        progress: list[int] = []
        uploaded = client.datasets.upload_file(
            dataset.id, training_file, on_progress=lambda sent, total: progress.append(sent)
        )
        assert uploaded.status == "valid" and progress[-1] == training_file.stat().st_size
        assert client.datasets.get(dataset.id).status == "ready"
        assert client.datasets.preview(dataset.id, limit=2)[0]["format"] == "openai_chat"
        assert dataset.id in [d.id for d in client.datasets.list()]

        config = client.train_configs.create("sft.yaml", "stage: sft\nmodel_name_or_path: m\n")
        yaml_file = tmp_path / "other.yaml"
        yaml_file.write_text("stage: sft\n")
        other = client.train_configs.upload(yaml_file)
        assert client.train_configs.content(config.id) == "stage: sft\nmodel_name_or_path: m\n"
        assert {config.id, other.id} <= {c.id for c in client.train_configs.list()}
        assert client.train_configs.get(other.id).name == "other.yaml"

        project = client.projects.create("sdk-project", dataset_name=dataset.id, training_yaml_name=config.id)
        assert project.owner == "dev" and client.projects.get("sdk-project").dataset_name == dataset.id
        assert client.projects.update("sdk-project", description="d").description == "d"
        assert "sdk-project" in [p.name for p in client.projects.list()]
        run = client.runs.create("sdk-project")
        assert client.runs.get(run.id).project == "sdk-project"
        assert [r.id for r in client.runs.list("sdk-project")] == [run.id]
        final = run
        deadline = time.monotonic() + 30
        while final.status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
            final = client.runs.get(run.id)
            time.sleep(0.2)
        assert final.status == "failed"  # the default command does not exist here: a clean failure
        assert isinstance(client.runs.logs(run.id)["data"], list)
        assert client.runs.metrics(run.id) == [] and client.runs.artifacts(run.id) == []
        with pytest.raises(InvalidRequestError):
            client.runs.cancel(run.id)
        assert client.train_configs.delete(other.id).detail
        assert client.projects.delete("sdk-project").detail == "project 'sdk-project' deleted"
        assert client.datasets.delete(dataset.id).detail
        with pytest.raises(NotFoundError):
            client.datasets.get(dataset.id)


def test_paging_through_45_jobs(start_live_server, training_file: Path) -> None:
    base = start_live_server(TUNING_SCHEDULER="0")
    with TuningClient(api_key=KEY, base_url=base) as client:
        file_id = client.files.upload(training_file).id
        created = [client.tunings.create(TINY, file_id).id for _ in range(45)]
        page = client.tunings.list(limit=20)
        assert len(page.data) == 20 and page.has_more
        walked = [job.id for job in page]
        assert walked == created[::-1]


def test_errors(start_live_server) -> None:
    base = start_live_server()
    with pytest.raises(AuthenticationError) as bad_key:
        TuningClient(api_key="wrong-key-0000", base_url=base).tunings.list()
    assert bad_key.value.status_code == 401 and bad_key.value.code == "invalid_api_key"
    with TuningClient(api_key=KEY, base_url=base) as client:
        with pytest.raises(NotFoundError):
            client.tunings.get("job-000000000000")
        with pytest.raises(NotFoundError) as malformed:  # not a job id at all: still just not found
            client.tunings.get("job-doesnotexist")
        assert malformed.value.status_code == 404 and malformed.value.param == "id"
        with pytest.raises(InvalidRequestError) as invalid:
            client.tunings.create("no/such-model", "file")
        assert invalid.value.param == "model"


def test_rate_limit_error_and_retry_after_the_window(start_live_server) -> None:
    base = start_live_server(TUNING_RATE_LIMITS='{"tunings": "3 per 2 seconds"}')
    impatient = TuningClient(api_key=KEY, base_url=base, max_retries=0)
    for _ in range(3):
        impatient.tunings.list()
    with pytest.raises(RateLimitError) as limited:
        impatient.tunings.list()
    assert limited.value.retry_after is not None and limited.value.retry_after <= 2
    patient = TuningClient(api_key=KEY, base_url=base, max_retries=3)
    started = time.monotonic()
    assert patient.tunings.list().data == []  # waited for Retry-After, then succeeded
    assert time.monotonic() - started >= 0.5


def test_server_down_is_a_connection_error_after_retries() -> None:
    attempts: list[str] = []
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{free_port()}",
        event_hooks={"request": [lambda request: attempts.append(request.url.path)]},
    )
    client = TuningClient(api_key=KEY, base_url="http://unused", max_retries=2, http_client=http)
    import tuning_sdk._base as base_module

    original, base_module.MAX_BACKOFF = base_module.MAX_BACKOFF, 0.05
    try:
        with pytest.raises(APIConnectionError):
            client.health_check()
    finally:
        base_module.MAX_BACKOFF = original
    assert attempts == ["/health"] * 3


def test_creates_carry_an_idempotency_key_the_server_honours(start_live_server, training_file: Path) -> None:
    base = start_live_server(TUNING_SCHEDULER="0")
    sent: list[str | None] = []
    http = httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {KEY}"},
        event_hooks={"request": [lambda r: sent.append(r.headers.get("idempotency-key"))]},
    )
    with TuningClient(http_client=http) as client:
        file_id = client.files.upload(training_file).id
        client.tunings.create(TINY, file_id)
        key = sent[-1]
        assert key and key.startswith("sdk-")
        first = client._transport.request(
            "POST",
            "/v1/tunings.create",
            json={"model": TINY, "training_file": file_id},
            headers={"Idempotency-Key": "same-key"},
        )
        second = client._transport.request(
            "POST",
            "/v1/tunings.create",
            json={"model": TINY, "training_file": file_id},
            headers={"Idempotency-Key": "same-key"},
        )
        assert first["id"] == second["id"]
        assert len(client.tunings.list().data) == 2


def test_async_client(start_live_server, training_file: Path) -> None:
    base = start_live_server()

    async def scenario() -> None:
        async with AsyncTuningClient(api_key=KEY, base_url=base) as client:
            assert (await client.health_check())["status"] == "healthy"
            file_id = (await client.files.upload(training_file)).id
            job = await client.tunings.create(TINY, file_id, hyperparameters={"epochs": 1})
            done = await client.tunings.wait(job.id, poll_interval=0.2)
            assert done.is_successful
            assert [j.id async for j in await client.tunings.list(limit=1)] == [job.id]
            lines = [line async for line in client.tunings.stream_logs(job.id)]
            assert lines and (await client.models.get(TINY)).kind == "base"

    asyncio.run(scenario())


def test_a_missing_key_names_where_to_give_one(start_live_server, monkeypatch: pytest.MonkeyPatch) -> None:
    base = start_live_server()
    monkeypatch.delenv("TUNING_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as missing, TuningClient(base_url=base) as client:
        client.tunings.list()
    assert missing.value.code == "missing_api_key"
    assert "TUNING_API_KEY" in str(missing.value) and "--api-key" in str(missing.value)
    with pytest.raises(AuthenticationError) as wrong:
        TuningClient(api_key="wrong-key-0000", base_url=base).tunings.list()
    assert "TUNING_API_KEY" not in str(wrong.value)  # a key was given: the hint would mislead


def test_deployments(start_live_server, deploy_settings: dict[str, str]) -> None:
    base = start_live_server(**deploy_settings)
    with TuningClient(api_key=KEY, base_url=base) as client:
        created = client.deployments.create(
            DEPLOYABLE,
            served_model_name="demo",
            preferred_gpu=1,
            tags=["sdk"],
            extra_args="--max-model-len 2048",
        )
        assert created.status == "starting" and created.gpu_ids == ["1"]
        running = client.deployments.wait(created.id, poll_interval=0.2, timeout=30)
        assert running.status == "running" and running.served_model_name == "demo"
        assert client.deployments.get(created.id).port == created.port
        assert [d.id for d in client.deployments.list(tag="sdk", status="running")] == [created.id]
        assert client.deployments.list(status="failed") == []
        assert any("fake vllm: model=" in line for line in client.deployments.logs(created.id, tail=20))

        restarted = client.deployments.restart(created.id)
        assert restarted.id != created.id and restarted.served_model_name == "demo"
        assert client.deployments.get(created.id).status == "stopped"
        assert client.deployments.wait(restarted.id, poll_interval=0.2, timeout=30).status == "running"
        assert client.deployments.stop(restarted.id, force=True).deployment_id == restarted.id
        assert client.deployments.get(restarted.id).status == "stopped"

        with pytest.raises(InvalidRequestError) as nothing_to_serve:
            client.deployments.create()
        assert nothing_to_serve.value.param == "model_path"
        with pytest.raises(NotFoundError):
            client.deployments.create(run_id="run-" + "0" * 28)
        with pytest.raises(NotFoundError):
            client.deployments.get("dep-000000000000")

    async def the_same_with_await() -> None:
        async with AsyncTuningClient(api_key=KEY, base_url=base) as client:
            created = await client.deployments.create(DEPLOYABLE, gpu_count=0)
            running = await client.deployments.wait(created.id, poll_interval=0.2, timeout=30)
            assert running.status == "running" and running.gpu_ids == []
            assert created.id in [d.id for d in await client.deployments.list()]
            assert await client.deployments.logs(created.id, tail=5)
            await client.deployments.stop(created.id)
            assert (await client.deployments.get(created.id)).status == "stopped"

    asyncio.run(the_same_with_await())
