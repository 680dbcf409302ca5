"""Tuning jobs end to end: a real LoRA run of the bundled trainer on a tiny model, and bad input."""

from __future__ import annotations

import csv
import io
import os
import re
import tarfile
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from app.config import RateLimitSettings
from src.storage.tables import TuningJob
from tests.conftest import BOB_KEY, bearer
from tests.features.tunings.conftest import ALICE, TINY, chat_jsonl, wait_for_job

REDIS_URL = os.environ.get("TUNING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def upload_training_file(client: TestClient) -> str:
    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=ALICE).json()["id"]
    response = client.put(
        f"/v1/datasets/{dataset_id}/files", files={"file": ("chat.jsonl", chat_jsonl())}, headers=ALICE
    )
    assert response.json()["status"] == "valid"
    return dataset_id


def check_result_files(client: TestClient, done: dict) -> None:
    """OpenAI's result_files are ids /v1/files serves: the model as a tar and a metrics CSV."""
    job = client.get(f"/v1/fine_tuning/jobs/{done['id']}", headers=ALICE).json()
    hex_id = done["id"].removeprefix("job-")
    assert job["result_files"] == [f"file-{hex_id}-model", f"file-{hex_id}-metrics"]
    model_id, metrics_id = job["result_files"]

    info = client.get(f"/v1/files/{model_id}", headers=ALICE).json()
    assert info["purpose"] == "fine-tune-results" and info["filename"] == f"{done['id']}-model.tar"
    tar_bytes = client.get(f"/v1/files/{model_id}/content", headers=ALICE).content
    assert len(tar_bytes) == info["bytes"], "Content-Length and metadata match the stream"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        names = archive.getnames()
        adapter = archive.extractfile(f"{done['id']}/adapter_model.safetensors").read()
        stamps = [member.mtime for member in archive.getmembers()]
    assert all(stamp > time.time() - 3600 for stamp in stamps), "members keep their files' times"
    assert f"{done['id']}/adapter_config.json" in names
    assert not any("/checkpoint-" in name for name in names), "checkpoints stay out of the model tar"
    artifacts = client.get(f"/runs/{done['run_id']}/artifacts", headers=ALICE).json()["data"]
    weights = next(a for a in artifacts if a["path"] == "adapter_model.safetensors")
    direct = client.get(f"/runs/{done['run_id']}/artifacts/{weights['id']}/content", headers=ALICE)
    assert adapter == direct.content and len(adapter) == weights["bytes"]

    csv_text = client.get(f"/v1/files/{metrics_id}/content", headers=ALICE).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    series = client.get(f"/v1/tunings.metrics/{done['id']}", headers=ALICE).json()["data"]
    assert [int(r["step"]) for r in rows] == [p["step"] for p in series]
    assert [float(r["train_loss"]) for r in rows] == [p["loss"] for p in series]

    bob = bearer(BOB_KEY)
    for file_id in (model_id, metrics_id):
        assert client.get(f"/v1/files/{file_id}", headers=bob).status_code == 404
        assert client.get(f"/v1/files/{file_id}/content", headers=bob).status_code == 404
    refused = client.delete(f"/v1/files/{metrics_id}", headers=ALICE)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "result_file"
    missing = client.get("/v1/files/file-000000000000-model/content", headers=ALICE)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "file_id"
    assert client.get("/v1/files/file-../../etc-model", headers=ALICE).status_code in (404, 422)


def check_deploy_by_fine_tuned_model(client: TestClient, done: dict) -> None:
    """A deployment from the fine-tuned model's name serves that job's run under that name."""
    name = done["fine_tuned_model"]
    refused = client.post("/deployments", json={"model_path": name, "gpu_count": 0}, headers=bearer(BOB_KEY))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "model_path"
    created = client.post("/deployments", json={"model_path": name, "gpu_count": 0}, headers=ALICE)
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["run_id"] == done["run_id"] and info["served_model_name"] == name
    assert f"--lora-modules {name}=" in info["vllm_cmd"]
    client.delete(f"/deployments/{info['deployment_id']}?force=true", headers=ALICE)


def test_tuning_job_trains_the_tiny_model(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    created = client.post(
        "/v1/tunings.create",
        json={
            "model": TINY,
            "training_file": training_file,
            "suffix": "demo",
            "hyperparameters": {"epochs": 3, "learning_rate": 0.005, "batch_size": 4, "rank": 8},
        },
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert re.fullmatch(r"job-[0-9a-f]{12}", job["id"]) and job["object"] == "tuning.job"
    assert job["fine_tuned_model"] is None, "named only once it succeeds"
    assert job["status"] == "pending" and job["metrics"] is None

    done = wait_for_job(client, job["id"])
    assert done["status"] == "succeeded", done
    assert re.fullmatch(rf"{re.escape(TINY)}-demo-\d{{8}}-\d{{6}}", done["fine_tuned_model"])
    assert done["metrics"]["progress"] == 1.0
    assert {"adapter_model.safetensors", "adapter_config.json", "training_args.json"} <= set(
        done["result_files"]
    )
    assert done["duration"] > 0

    series = client.get(f"/v1/tunings.metrics/{job['id']}", headers=ALICE).json()["data"]
    losses = [p["loss"] for p in series if p["source"] == "trainer_log"]
    assert len(losses) >= 4 and losses[-1] < losses[0]

    models = client.get("/v1/models", headers=ALICE).json()["data"]
    assert {(m["id"], m["kind"]) for m in models} >= {
        (TINY, "base"),
        (done["fine_tuned_model"], "fine-tuned"),
    }

    listed = client.get("/v1/tunings.list?status=succeeded", headers=ALICE).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    refused = client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "job_finished"
    assert job["id"] in refused.json()["error"]["message"]
    assert done["run_id"] not in refused.text, "the job's answer does not name its internal run"

    check_result_files(client, done)
    check_deploy_by_fine_tuned_model(client, done)
    deleted = client.delete(f"/v1/tunings.delete/{job['id']}", headers=ALICE)
    assert deleted.json() == {"id": job["id"], "object": "tuning.job", "deleted": True}
    assert client.get(f"/v1/tunings.get/{job['id']}", headers=ALICE).status_code == 404


def test_real_run_progress_and_one_metric_point_per_step(tuning_client) -> None:
    """The bundled trainer on the tiny model: 40 steps, watched while it runs."""
    client = tuning_client()
    training_file = upload_training_file(client)
    created = client.post(
        "/v1/tunings.create",
        json={
            "model": TINY,
            "training_file": training_file,
            "hyperparameters": {"epochs": 10, "batch_size": 4, "learning_rate": 0.005},
        },
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    seen: list[float] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = client.get(f"/v1/tunings.get/{job_id}", headers=ALICE).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        if job["status"] == "running" and job["metrics"] is not None:
            seen.append(job["metrics"]["progress"])
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["metrics"]["progress"] == 1.0 and job["metrics"]["total_steps"] == 40
    assert seen == sorted(seen), f"progress went back: {seen}"
    assert all(value < 1.0 for value in seen), seen
    assert any(0.05 < value < 0.95 for value in seen), seen
    assert job["summary"]["train_loss"] > 0 and job["summary"]["train_runtime"] > 0

    series = client.get(f"/v1/tunings.metrics/{job_id}", headers=ALICE).json()["data"]
    assert [p["step"] for p in series] == list(range(1, 41))
    assert all(p["loss"] is not None and p["grad_norm"] is not None for p in series), series
    assert job["metrics"]["train_loss"] == series[-1]["loss"]
    run_series = client.get(f"/runs/{job['run_id']}/metrics", headers=ALICE).json()["data"]
    assert [(p["step"], p["loss"]) for p in run_series] == [(p["step"], p["loss"]) for p in series]

    events = client.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=1000", headers=ALICE).json()["data"]
    metric_events = [e["data"] for e in events if e["type"] == "metrics"]
    assert sorted((d["step"], d["train_loss"]) for d in metric_events) == [
        (p["step"], p["loss"]) for p in series
    ]
    checkpoints = client.get(f"/v1/fine_tuning/jobs/{job_id}/checkpoints?limit=100", headers=ALICE).json()
    by_step = {p["step"]: p["loss"] for p in series}
    assert checkpoints["data"], checkpoints
    for checkpoint in checkpoints["data"]:
        step = checkpoint["step_number"]
        assert checkpoint["metrics"]["train_loss"] == by_step[step] is not None


def test_bad_input_is_a_clear_4xx(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    cases = [
        ({"model": "no/such-model", "training_file": training_file}, 400, "unknown model"),
        ({"model": "../../etc", "training_file": training_file}, 400, "unknown model"),
        ({"model": TINY, "training_file": "data/missing.jsonl"}, 400, "not found"),
        (
            {"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": -1}},
            400,
            "hyperparameters.epochs",
        ),
        (
            {"model": TINY, "training_file": training_file, "hyperparameters": {"warmup": 3}},
            400,
            "unknown hyperparameter(s) ['warmup']",
        ),
    ]
    for body, status, message in cases:
        response = client.post("/v1/tunings.create", json=body, headers=ALICE)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"], response.json()
    for training_file in ("data/missing.jsonl", str(uuid.uuid4())):
        response = client.post(
            "/v1/tunings.create", json={"model": TINY, "training_file": training_file}, headers=ALICE
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "training_file", response.json()
        assert response.json()["error"]["message"].startswith("training_file"), response.json()
    assert client.get("/v1/tunings.list", headers=ALICE).json()["data"] == []


def test_cancel_twice(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    job = client.post(
        "/v1/tunings.create",
        json={"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": 50}},
        headers=ALICE,
    ).json()
    first = client.delete(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert first.status_code == 200
    wait_for_job(client, job["id"])
    second = client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert second.status_code == 400 and "already cancelled" in second.json()["error"]["message"]
    assert second.json()["error"]["param"] == "id" and job["run_id"] not in second.text


def test_quantization_without_cuda_fails_fast_as_launch_error(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    job = client.post(
        "/v1/tunings.create",
        json={"model": TINY, "training_file": training_file, "hyperparameters": {"use_quantization": True}},
        headers=ALICE,
    ).json()
    done = wait_for_job(client, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "launch_error" and "CUDA" in done["error"]["message"]
    assert done["fine_tuned_model"] is None, "a failed job made no model"
    openai_job = client.get(f"/v1/fine_tuning/jobs/{job['id']}", headers=ALICE).json()
    assert openai_job["fine_tuned_model"] is None and openai_job["result_files"] == []
    hex_id = job["id"].removeprefix("job-")
    assert client.get(f"/v1/files/file-{hex_id}-metrics", headers=ALICE).status_code == 404
    with client.app.state.store.session_scope() as session:
        name = session.get(TuningJob, job["id"]).fine_tuned_model  # the name it would have had
    refused = client.post("/deployments", json={"model_path": name, "gpu_count": 0}, headers=ALICE)
    assert refused.status_code == 400 and "only a succeeded job" in refused.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after(tuning_client) -> None:
    client = tuning_client(tunings="3/minute")
    for _ in range(3):
        assert client.get("/v1/tunings.list", headers=ALICE).status_code == 200
    limited = client.get("/v1/tunings.list", headers=ALICE)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/projects", headers=ALICE).status_code == 200  # other groups are not limited


def test_rate_limit_shared_through_redis(app_factory) -> None:
    """Two service instances on one Redis share the caller's budget."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
        pytest.skip("Redis is not reachable")
    limits = RateLimitSettings(
        rate_limit_storage=REDIS_URL,
        rate_limit_prefix=f"test-{uuid.uuid4().hex}",
        rate_limits={"tunings": "4/minute"},
    )
    first, second = app_factory(rate_limits=limits), app_factory(rate_limits=limits)
    for client in (first, second, first, second):
        assert client.get("/v1/tunings.list", headers=ALICE).status_code == 200
    assert second.get("/v1/tunings.list", headers=ALICE).status_code == 429


def test_idempotent_create_returns_the_same_job(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    body = {"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": 50}}
    headers = {**ALICE, "Idempotency-Key": "create-once-123"}
    first = client.post("/v1/tunings.create", json=body, headers=headers).json()
    again = client.post("/v1/tunings.create", json=body, headers=headers).json()
    assert again["id"] == first["id"]
    other = client.post(
        "/v1/tunings.create", json=body, headers={**ALICE, "Idempotency-Key": "another"}
    ).json()
    assert other["id"] != first["id"]
    assert len(client.get("/v1/tunings.list", headers=ALICE).json()["data"]) == 2
    for job in (first, other):
        client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
